"""Helpers shared by unit and integration tests."""

from __future__ import annotations

from gunicorn.config import Config


def gunicorn_config(argv: list[str]) -> Config:
    """Resolve a gunicorn command line (without the program name) with gunicorn's own
    parser, defaults included, as the gunicorn master would."""
    cfg = Config()
    ns = cfg.parser().parse_args(argv)
    for key, value in vars(ns).items():
        if value is not None and key != "args":
            cfg.set(key.lower(), value)
    return cfg
