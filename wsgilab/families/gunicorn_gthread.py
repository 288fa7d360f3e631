"""gunicorn's gthread worker: each worker process runs requests on a pool of threads.

``workers x threads`` requests at once; the threads of a worker share its GIL, so as many
CPUs for Python as workers. With several workers a worker accepts while it has no free
thread (benoitc/gunicorn#3433): ``--worker-connections`` equal to the threads keeps every
thread sustained. Settings, the model and their sources: ``_gunicorn``.
"""

from __future__ import annotations

from wsgilab.families import Family, Knob, ProcessModel, _gunicorn

WORKERS = Knob("workers", 1, 16, "a process with its own GIL and its own pool of threads")
THREADS = Knob("threads", 1, 128, "a thread of the worker's pool: one request more in flight")
#: Threads per process of the advisor's candidates: Cloud Run's and granian's own
#: examples' count.
MENU_THREADS = 8
CONNECTIONS = Knob("worker_connections", 1, 10_000,
                   "connections a worker accepts: at its threads, every thread is sustained",
                   default=_gunicorn.DEFAULT_WORKER_CONNECTIONS, tag="wc")


def _command(knobs: dict) -> tuple[str, ...]:
    return _gunicorn.command(WORKERS.check(knobs["workers"]), "--threads",
                             str(THREADS.check(knobs["threads"])), *_gunicorn.connections(knobs))


FAMILY = Family(
    name="gunicorn-gthread", title="gunicorn gthread", server=_gunicorn.NAME,
    reported_by=_gunicorn.REPORTED_BY, process=ProcessModel(threads=True),
    knobs=(WORKERS, THREADS, CONNECTIONS), requirements="servers", package="gunicorn", launcher=None,
    matches=lambda s: s.get("worker_class") == "gthread",
    declared=_gunicorn.declared, model=_gunicorn.model, command=_command,
    paste=lambda knobs, entry: _gunicorn.paste(_command(knobs), entry),
    config_file=_gunicorn.config_file, timeout_s=_gunicorn.timeout_s,
    menu=lambda cores, most: [
        ({"workers": 1, "threads": MENU_THREADS}, f"one process of {MENU_THREADS} threads: "
                                                  "waiting requests share one GIL")] + ([
        ({"workers": cores, "threads": MENU_THREADS // 2, "worker_connections": MENU_THREADS // 2},
         "a process per CPU, each with threads; --worker-connections = threads so that every "
         "thread is sustained (benoitc/gunicorn#3433)")] if cores > 1 else []),
    light=True, order=20
)
