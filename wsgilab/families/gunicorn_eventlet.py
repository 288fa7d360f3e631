"""gunicorn's eventlet worker: green threads on eventlet's hub; gunicorn 25.3 (its last
release with the worker: 26.0 removed ``gunicorn/workers/geventlet.py``), from its own lock.

``workers x worker_connections`` requests at once, as gevent's. Settings, the model:
``_gunicorn``.
"""

from __future__ import annotations

from wsgilab.families import Family, Knob, ProcessModel, _gunicorn

WORKERS = Knob("workers", 1, 16, "a process with its own hub")
CONNECTIONS = Knob("worker_connections", 1, 10_000, "a green thread: one request more in flight")


def _command(knobs: dict) -> tuple[str, ...]:
    return _gunicorn.command(WORKERS.check(knobs["workers"]), "--worker-class", "eventlet",
                             "--worker-connections", str(CONNECTIONS.check(knobs["worker_connections"])))


FAMILY = Family(
    name="gunicorn-eventlet", title="gunicorn eventlet", server=_gunicorn.NAME,
    reported_by=_gunicorn.REPORTED_BY, process=ProcessModel(greenlets=True),
    knobs=(WORKERS, CONNECTIONS), requirements="servers-eventlet", package="gunicorn",
    needs=("eventlet",), launcher=None,
    matches=lambda s: s.get("worker_class") == "eventlet",
    declared=_gunicorn.declared, model=_gunicorn.model, command=_command,
    paste=lambda knobs, entry: _gunicorn.paste(_command(knobs), entry),
    config_file=_gunicorn.config_file, timeout_s=_gunicorn.timeout_s,
    sized=lambda demand: [({"workers": demand.processes,
                            "worker_connections": CONNECTIONS.clamp(max(1000, demand.in_flight))},
                           f"eventlet's green threads (the app asked for them); "
                           f"a hub per CPU: {demand.describe()}")],
    order=40
)
