"""The WSGI entry point: ``labapp.wsgi:app`` (what ``LAB_APP`` names for the instrument)."""

from . import db, upstream
from .app import create_app

app = create_app()


def lab_facts() -> dict:
    """What the app tells the lab's health endpoint about itself: its database pool's size
    per process (the ``db`` workload's pooled levels read it), and the drivers and clients
    this interpreter could not import, with the reason."""
    return {"db_pool_size": db.settings()["pool_size"],
            "unavailable": {**db.UNAVAILABLE, **upstream.UNAVAILABLE}}
