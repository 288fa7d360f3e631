"""The one Flask application every configuration of the lab serves."""
