"""uWSGI loads this module as its application (``--module labinstrument.launchers.uwsgi:app``).

uWSGI's option parser is C code with no Python interface, so it cannot be asked for its
settings before it runs; its Python plugin, though, exposes what the running server
resolved to the application it loads, through the ``uwsgi`` module (uWSGI docs, "The uWSGI
Python module"): ``uwsgi.numproc`` (worker processes), ``uwsgi.cores`` (cores per worker:
threads, or async cores under ``--gevent``) and ``uwsgi.opt`` (the options as given). This
module publishes them, then serves the lab's app. uWSGI loads it once in the master,
before forking its workers, so every worker inherits what was published.
"""

from __future__ import annotations

import uwsgi

from .. import agent, settings

#: uWSGI's own defaults for the options the lab reads (``core/init.c``): 1 thread, a
#: 100-slot listen queue; 0 gevent cores means no gevent loop.
DEFAULTS = {"threads": 1, "gevent": 0, "listen": 100}


def _opt(name: str):
    value = uwsgi.opt.get(name)
    if isinstance(value, list):  # an option given several times
        value = value[-1]
    return value.decode() if isinstance(value, bytes) else value


def resolved() -> dict:
    """What the running uWSGI resolved: ``{"server": "uwsgi", "version", "processes",
    "cores", "threads", "gevent", "listen", "master"}``."""
    values = {name: int(_opt(name) or default) for name, default in DEFAULTS.items()}
    return {"server": "uwsgi", "version": uwsgi.version.decode(), "processes": uwsgi.numproc,
            "cores": uwsgi.cores, "master": bool(_opt("master")), **values}


settings.publish(resolved())
# In the master, which loads this once before it forks: its workers inherit no thread.
agent.start()

from ..wsgi import app  # noqa: E402  (published first: the health endpoint reads them)

__all__ = ["app"]
