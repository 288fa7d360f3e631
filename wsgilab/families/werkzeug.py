"""Werkzeug's development server, as Flask's ``app.run()`` starts it.

Reported by: the launcher ``labinstrument.launchers.werkzeug``, which parses its command line with
its own argparse parser (one flag per ``app.run`` keyword) and publishes the result before
calling ``app.run``; ``declared`` parses the compose command with the same parser.

Cap (werkzeug ``serving.py``, 3.1):

- ``threaded=False, processes=1``: ``BaseWSGIServer`` serves one request at a time: 1;
- ``processes=N``: ``ForkingWSGIServer`` (``socketserver.ForkingMixIn``) forks a child per
  request, at most ``max_children = N``: N; each child runs Python on its own, so N can use
  N CPUs, minus the fork per request;
- ``threaded=True`` (``app.run()``'s default since Flask 1.0): ``ThreadedWSGIServer``
  (``socketserver.ThreadingMixIn``) starts a thread per connection with no upper bound but
  the container's pids limit; one process, so one CPU for Python (the GIL).
"""

from __future__ import annotations

from labinstrument.launchers.werkzeug import build_parser
from wsgilab.families import Family, Knob, ProcessModel
from wsgilab.model.theory import Capacity

NAME = "werkzeug"
REPORTED_BY = "launcher labinstrument.launchers.werkzeug (its argparse result, published before app.run)"
LAUNCHER = "labinstrument.launchers.werkzeug"
_LAUNCHER = ["python3", "-m", LAUNCHER]
PROCESSES = Knob("processes", 1, 32, "a forked child per request, at most this many at once")


def declared(command: list[str]) -> dict | None:
    """``{"server", "threaded", "processes"}`` from a launcher command, else None."""
    if list(command[:3]) != _LAUNCHER:
        return None
    args = build_parser().parse_args(command[3:])
    return {"server": NAME, "threaded": args.threaded, "processes": args.processes}


def model(settings: dict) -> Capacity:
    """The dev server's model from ``{"threaded": bool, "processes": int}``."""
    if settings["threaded"]:
        return Capacity(None, "a thread per connection (no cap)", parallelism=1, processes=1)
    processes = settings["processes"]
    if processes > 1:
        return Capacity(processes, f"processes = {processes}", parallelism=processes,
                        processes=1 + processes, forks_per_request=True)
    return Capacity(1, "one request at a time = 1", parallelism=1, processes=1)


def command(knobs: dict) -> tuple[str, ...]:
    """``app.run(threaded=..., processes=N)`` through the launcher."""
    processes = PROCESSES.check(knobs.get("processes", 1))
    threaded = bool(knobs.get("threaded", processes == 1))
    return (*_LAUNCHER, "--threaded" if threaded else "--no-threaded", "--processes", str(processes))


def paste(knobs: dict, entry: str) -> str:
    """What a Flask user writes: ``app.run(threaded=..., processes=N)``."""
    processes = knobs.get("processes", 1)
    threaded = bool(knobs.get("threaded", processes == 1))
    return f"app.run(threaded={threaded}, processes={processes})  # {entry}: not for production"


FAMILY = Family(
    name="werkzeug", title="Flask's development server", server=NAME, reported_by=REPORTED_BY,
    process=ProcessModel(threads=True, forks=True), knobs=(PROCESSES,), requirements="servers",
    package="werkzeug",
    launcher=LAUNCHER, matches=lambda s: True, declared=declared, model=model,
    command=command, paste=paste, candidate=False,
    order=90
)
