"""gunicorn, shared by its families (``gunicorn_sync``, ``gunicorn_gthread``,
``gunicorn_gevent``, ``gunicorn_eventlet``): how its settings are read and what they promise.

Reported by: gunicorn itself, through the ``on_starting`` hook of
``services/app/gunicorn.conf.py``, which publishes ``server.cfg`` as the master resolved
it (``cfg.worker_class_str`` is gunicorn's own resolution: ``sync`` with ``threads > 1``
runs gthread). ``declared`` parses a compose command with gunicorn's own ``Config`` parser.

Cap and sustained concurrency (gunicorn 27.0.1 source and docs):

- sync: ``workers`` ("1 request/worker", docs ``design.md``); each worker a process: CPU
  parallelism = workers.
- gthread: ``workers x threads`` (``gthread.py``: a ``ThreadPoolExecutor(max_workers=
  threads)`` per worker). Sustained: a worker accepts while ``nr_conns <
  worker_connections`` whether or not a thread is free, and the kernel wakes one worker's
  poller per connection, not the least busy one, so with several workers only one worker's
  threads are sure to be busy (benoitc/gunicorn#3433, open in 27.0.1; #2191, #1364).
  With ``worker_connections <= threads`` a worker stops accepting once its threads are
  taken and the rest wait in the shared kernel backlog, so every thread is sustained;
  the cost is keep-alive: ``max_keepalived = worker_connections - threads``.
  CPU parallelism = workers (one GIL per process).
- gevent, eventlet: ``workers x worker_connections`` (settings: "the maximum number of
  simultaneous clients" per async worker). Greenlets share their worker's hub: a
  CPU-bound request stops every other request of that worker until it ends.
"""

from __future__ import annotations

from gunicorn.config import Config

from wsgilab.families import INSTRUMENTED_APP, entry_for
from wsgilab.model.theory import Capacity, UnknownServer

NAME = "gunicorn"
REPORTED_BY = "gunicorn's on_starting hook (services/app/gunicorn.conf.py): server.cfg as resolved"
#: The async worker classes whose cap is workers x worker_connections.
ASYNC_WORKER_CLASSES = frozenset({"gevent", "eventlet", "gevent_wsgi", "gevent_pywsgi"})
KEYS = ("worker_class", "workers", "threads", "worker_connections", "preload_app")


def declared(command: list[str]) -> dict | None:
    """The resolved settings of a ``gunicorn ...`` command, else None."""
    if not command or command[0] != "gunicorn":
        return None
    cfg = Config()
    ns = cfg.parser().parse_args(command[1:])
    for key, value in vars(ns).items():
        if value is not None and key != "args":
            cfg.set(key.lower(), value)
    return {"server": NAME, **resolved(cfg)}


def resolved(cfg) -> dict:
    """The settings that set concurrency, from a gunicorn ``Config`` (or ``server.cfg``)."""
    return {"worker_class": cfg.worker_class_str, "workers": cfg.workers,
            "threads": cfg.threads, "worker_connections": cfg.worker_connections,
            "preload_app": cfg.preload_app}


def model(settings: dict) -> Capacity:
    """The model from ``{"worker_class", "workers", "threads", "worker_connections"}``.

    Raises:
        UnknownServer: a worker class the lab has no theory for (tornado, asgi).
    """
    worker_class = settings["worker_class"]
    workers = settings["workers"]
    processes = workers + 1  # the arbiter
    if worker_class == "sync":
        return Capacity(workers, f"workers = {workers}", parallelism=workers, processes=processes)
    if worker_class == "gthread":
        threads, conns = settings["threads"], settings["worker_connections"]
        formula = f"workers x threads = {workers} x {threads}"
        if workers > 1 and conns > threads:
            return Capacity(workers * threads, formula, sustained=threads,
                            sustained_rule=("a gthread worker accepts while it has no free "
                                            "thread; only one worker's threads are sure to be "
                                            "busy (benoitc/gunicorn#3433)"),
                            parallelism=workers, processes=processes)
        return Capacity(workers * threads, formula, parallelism=workers, processes=processes)
    if worker_class in ASYNC_WORKER_CLASSES:
        conns = settings["worker_connections"]
        return Capacity(workers * conns, f"workers x worker_connections = {workers} x {conns}",
                        parallelism=workers, processes=processes, event_loop=True)
    raise UnknownServer(f"no theory for gunicorn worker class {worker_class!r}")


#: gunicorn's default ``worker_connections`` (settings docs): left out of a pasted command.
DEFAULT_WORKER_CONNECTIONS = 1000


def command(workers: int, *extra: str) -> tuple[str, ...]:
    """``gunicorn --workers N <extra> labinstrument.wsgi:app``."""
    return ("gunicorn", "--workers", str(workers), *extra, INSTRUMENTED_APP)


def paste(words: tuple[str, ...], entry: str) -> str:
    """A gunicorn container command as the user runs it."""
    return entry_for(words, entry)


def config_file(settings: dict) -> str:
    """A ``gunicorn.conf.py`` for resolved settings: the worker class and its knobs."""
    lines = [f"workers = {settings['workers']}", f"worker_class = \"{settings['worker_class']}\""]
    if settings["worker_class"] == "gthread":
        lines.append(f"threads = {settings['threads']}")
    if settings["worker_class"] in ("gthread", "gevent", "eventlet"):
        lines.append(f"worker_connections = {settings['worker_connections']}")
    return "\n".join(lines) + "\n"


def connections(knobs: dict) -> tuple[str, ...]:
    """``--worker-connections N`` where ``knobs`` sets it away from gunicorn's default."""
    value = knobs.get("worker_connections", DEFAULT_WORKER_CONNECTIONS)
    return () if value == DEFAULT_WORKER_CONNECTIONS else ("--worker-connections", str(value))


#: gunicorn's default ``--timeout`` (seconds, settings docs), where a record's settings do not say.
DEFAULT_TIMEOUT_S = 30


def timeout_s(settings: dict) -> float:
    """How long a request may run before the arbiter aborts its worker (``--timeout``: on a
    sync worker the request itself; on the others a heartbeat)."""
    return float(settings.get("timeout", DEFAULT_TIMEOUT_S))
