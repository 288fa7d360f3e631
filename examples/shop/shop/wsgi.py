"""The WSGI entry point: ``shop.wsgi:app``."""

from .app import create_app

app = create_app()
