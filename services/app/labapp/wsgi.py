"""The WSGI entry point the servers load: ``labapp.wsgi:app``."""

from .app import create_app

app = create_app()
