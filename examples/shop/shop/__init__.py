"""An example shop for the lab: Flask, SQLAlchemy on PostgreSQL, Jinja2 templates and JSON.

Its requests wait on the database (a product page, a text search over 20,000 rows, an
order written) and burn some CPU of their own (a statistics page computed in Python), as
the services people bring to the lab do.
"""
