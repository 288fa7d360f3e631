"""gunicorn reads ./gunicorn.conf.py by default: the lab's settings live in the instrument."""

from labinstrument.gunicorn_conf import *  # noqa: F401,F403
