"""gunicorn's gthread worker: each worker process runs requests on a pool of threads.

``workers x threads`` requests at once; the threads of a worker share its GIL, so as many
CPUs for Python as workers. With several workers a worker accepts while it has no free
thread (benoitc/gunicorn#3433): ``--worker-connections`` equal to the threads keeps every
thread sustained. Settings, the model and their sources: ``_gunicorn``.
"""

from __future__ import annotations

from wsgilab.families import Family, Knob, ProcessModel, _gunicorn
from wsgilab.model.sizing import Demand

WORKERS = Knob("workers", 1, 16, "a process with its own GIL and its own pool of threads")
THREADS = Knob("threads", 1, 128, "a thread of the worker's pool: one request more in flight")
CONNECTIONS = Knob("worker_connections", 1, 10_000,
                   "connections a worker accepts: at its threads, every thread is sustained",
                   default=_gunicorn.DEFAULT_WORKER_CONNECTIONS, tag="wc")


def _command(knobs: dict) -> tuple[str, ...]:
    return _gunicorn.command(WORKERS.check(knobs["workers"]), "--threads",
                             str(THREADS.check(knobs["threads"])), *_gunicorn.connections(knobs))


def _sized(demand: Demand) -> list[tuple[dict, str]]:
    one = THREADS.clamp(demand.in_flight)
    found = [({"workers": 1, "threads": one},
              f"one process of {one} thread{'s' if one != 1 else ''}, waiting requests "
              f"sharing one GIL: "
              f"{demand.describe()}")]
    if demand.processes > 1:
        threads = THREADS.clamp(demand.per_process(demand.processes))
        found.append(({"workers": demand.processes, "threads": threads,
                       "worker_connections": threads},
                      f"a process per CPU, {threads} threads each: {demand.describe()}; "
                      "--worker-connections = threads so that every thread is sustained "
                      "(benoitc/gunicorn#3433)"))
    return found


FAMILY = Family(
    name="gunicorn-gthread", title="gunicorn gthread", server=_gunicorn.NAME,
    reported_by=_gunicorn.REPORTED_BY, process=ProcessModel(threads=True),
    knobs=(WORKERS, THREADS, CONNECTIONS), requirements="servers", package="gunicorn", launcher=None,
    matches=lambda s: s.get("worker_class") == "gthread",
    declared=_gunicorn.declared, model=_gunicorn.model, command=_command,
    paste=lambda knobs, entry: _gunicorn.paste(_command(knobs), entry),
    config_file=_gunicorn.config_file, timeout_s=_gunicorn.timeout_s,
    sized=lambda demand: _sized(demand),
    light=True, order=20
)
