"""uWSGI (the PyPI wheel ``pyuwsgi`` 2.0.30), shared by its families (``uwsgi_threads``,
``uwsgi_gevent``): processes, threads, or gevent async cores.

Reported by: the running server. uWSGI's option parser is C code with no Python interface;
its Python plugin exposes what it resolved to the app it loads (``uwsgi.numproc``,
``uwsgi.cores``, ``uwsgi.opt``), published by ``labinstrument.launchers.uwsgi``. ``declared``
reads the compose command's ``--name value`` options with uWSGI's defaults for those not
given (``core/init.c``: 1 process, 1 thread, a 100-slot listen queue).

Cap (uWSGI docs and source):

- ``processes x threads`` ("ThingsToKnow": each thread serves one request); each worker
  thread blocks in ``accept()`` itself, so a worker takes a connection only when one of its
  threads is free and the rest wait in the kernel's listen queue: every thread is
  sustained (no gthread-style imbalance). One GIL per process: CPU parallelism =
  processes.
- ``--gevent N``: ``processes x N`` async cores ("Gevent": "the argument of --gevent is the
  number of async cores"); greenlets on one hub per process. All cores busy: uWSGI logs
  "async queue is full" and stops accepting.
- Past the cap, connections wait in the listen queue (``--listen``, default 100, which
  must not exceed ``net.core.somaxconn``); beyond it the kernel refuses them.
"""

from __future__ import annotations

from wsgilab.model.theory import Capacity

NAME = "uwsgi"
REPORTED_BY = ("the running uWSGI's own uwsgi module (numproc, cores, opt), published by "
               "labinstrument.launchers.uwsgi")
DEFAULTS = {"processes": 1, "threads": 1, "gevent": 0, "listen": 100}


def declared(command: list[str]) -> dict | None:
    """``{"server", "processes", "threads", "gevent", "listen"}`` of a ``uwsgi`` command."""
    if not command or command[0] != "uwsgi":
        return None
    values = dict(DEFAULTS)
    for i, arg in enumerate(command):
        name = arg[2:] if arg.startswith("--") else None
        if name in values and i + 1 < len(command):
            values[name] = int(command[i + 1])
    return {"server": NAME, **values}


def model(settings: dict) -> Capacity:
    """The model from ``{"processes", "threads", "gevent"}`` (and ``cores``)."""
    processes = settings["processes"]
    if settings.get("gevent"):
        cores = settings["gevent"]
        return Capacity(processes * cores, f"processes x gevent async cores = {processes} x {cores}",
                        parallelism=processes, processes=processes + 1, event_loop=True)
    threads = settings["threads"]
    return Capacity(processes * threads, f"processes x threads = {processes} x {threads}",
                    parallelism=processes, processes=processes + 1)


#: The module the instrument gives uWSGI (``labinstrument.launchers.uwsgi``): it publishes
#: what uWSGI resolved, then serves the instrumented app.
APP_MODULE = "labinstrument.launchers.uwsgi:app"
#: uWSGI's options the lab needs for any app (compose/uwsgi-*.yml): big headers, many
#: variables, quiet, and a clean stop.
COMMON = ("--need-app", "--strict", "--die-on-term", "--disable-logging",
          "--buffer-size", "32768", "--max-vars", "512")


def command(processes: int, *mode: str) -> tuple[str, ...]:
    """``uwsgi --http-socket :8000 --master --processes N <mode> ...`` serving the
    instrumented app."""
    return ("uwsgi", "--http-socket", ":8000", "--master", "--processes", str(processes), *mode,
            "--listen", "100", "--module", APP_MODULE, *COMMON)


def paste(words: tuple[str, ...], entry: str) -> str:
    """A uWSGI container command as the user runs it: ``--module <entry>``."""
    return " ".join(entry if w == APP_MODULE else w for w in words)
