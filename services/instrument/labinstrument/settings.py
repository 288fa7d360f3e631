"""How a server launcher tells the app how it is served (no Flask import: gunicorn's
master loads this before its workers fork, and gevent must patch before Flask loads)."""

from __future__ import annotations

import json
import os

#: Environment variable carrying the server's resolved settings as JSON.
SETTINGS_ENV = "LAB_SERVER_SETTINGS"


def publish(settings: dict) -> None:
    """Make ``settings`` visible to this process and to every process it starts later."""
    os.environ[SETTINGS_ENV] = json.dumps(settings, sort_keys=True)


def current() -> dict:
    """The settings a launcher published, or ``{}`` when the app runs under anything else."""
    raw = os.environ.get(SETTINGS_ENV)
    return json.loads(raw) if raw else {}
