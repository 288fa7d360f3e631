"""An example Django site for the lab: the ORM on PostgreSQL, a template, JSON views."""
