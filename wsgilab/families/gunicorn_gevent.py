"""gunicorn's gevent worker: each worker process runs requests on greenlets of one hub.

``workers x worker_connections`` requests at once ("the maximum number of simultaneous
clients", gunicorn settings); a greenlet that burns CPU, or waits in C code gevent cannot
patch, stops its worker's others. A candidate runs with gevent's own monitor thread on, so
that a blocked hub is seen (``GEVENT_MONITOR``). Settings, the model: ``_gunicorn``.
"""

from __future__ import annotations

from wsgilab.families import Family, Knob, ProcessModel, _gunicorn

WORKERS = Knob("workers", 1, 16, "a process with its own hub")
CONNECTIONS = Knob("worker_connections", 1, 10_000, "a greenlet: one request more in flight")
#: gevent's monitor thread (gevent's configuration): a greenlet that keeps the hub more
#: than this many seconds is reported, with its stack.
GEVENT_MONITOR = {"GEVENT_MONITOR_THREAD_ENABLE": "true", "GEVENT_MAX_BLOCKING_TIME": "0.1"}


def _command(knobs: dict) -> tuple[str, ...]:
    return _gunicorn.command(WORKERS.check(knobs["workers"]), "--worker-class", "gevent",
                             "--worker-connections", str(CONNECTIONS.check(knobs["worker_connections"])))


FAMILY = Family(
    name="gunicorn-gevent", title="gunicorn gevent", server=_gunicorn.NAME,
    reported_by=_gunicorn.REPORTED_BY, process=ProcessModel(greenlets=True),
    knobs=(WORKERS, CONNECTIONS), requirements="servers", package="gunicorn",
    needs=("gevent", "packaging"), launcher=None,
    matches=lambda s: str(s.get("worker_class", "")).startswith("gevent"),
    declared=_gunicorn.declared, model=_gunicorn.model, command=_command,
    paste=lambda knobs, entry: _gunicorn.paste(_command(knobs), entry),
    config_file=_gunicorn.config_file, timeout_s=_gunicorn.timeout_s, environment=dict(GEVENT_MONITOR),
    sized=lambda demand: [({"workers": demand.processes,
                            "worker_connections": CONNECTIONS.clamp(max(1000, demand.in_flight))},
                           f"greenlets: every request waiting on patched sockets at once; "
                           f"a hub per CPU: {demand.describe()}")],
    order=30
)
