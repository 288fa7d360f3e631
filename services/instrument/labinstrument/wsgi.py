"""The WSGI entry point every server is given: ``labinstrument.wsgi:app``.

It loads the application ``LAB_APP`` names and wraps it (``middleware``). Before importing
it, it notes whether this process had already been patched by gevent or eventlet (a
worker that patches after the app was imported, as under gunicorn's ``--preload``, patched
too late for what the app imported); after it, and again in each process before its first
request, the process's runtime facts, the GIL included, are recorded for the health
endpoint (``processes``).
"""

from __future__ import annotations

import os

from . import blocking, loader, processes, runtime
from .inflight import DEFAULT_PATH, InflightCounter
from .middleware import InflightMiddleware

#: The variable naming the in-flight counter's file (every process of the container must
#: share it: a tmpfs).
INFLIGHT_FILE_ENV = "LAB_INFLIGHT_FILE"

runtime.record_gil_warnings()
_patched_before = runtime.patched_by()
_spec = loader.spec_from_env()
_app = loader.load(_spec)
_facts = getattr(loader.module_of(_spec), "lab_facts", None)


def record_process() -> None:
    """Record this process's runtime facts (called at import, and again after a fork)."""
    processes.record({"python": runtime.python(), "gil_enabled": runtime.gil_enabled(),
                      "gil_enabled_by": runtime.gil_modules(),
                      "patched_by": runtime.patched_by(), "patched_before_app": _patched_before,
                      "app": _spec, "watching_hub": blocking.watch()})


record_process()
# A preloading master forks its workers after this import, and a worker patches after its
# fork: each records its own facts again before it serves.
app = InflightMiddleware(_app, InflightCounter(os.environ.get(INFLIGHT_FILE_ENV, DEFAULT_PATH)),
                         app_facts=_facts, on_first_request=record_process)
