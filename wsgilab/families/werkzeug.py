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

from wsgilab.model.theory import Capacity

NAME = "werkzeug"
REPORTED_BY = "launcher labinstrument.launchers.werkzeug (its argparse result, published before app.run)"
_LAUNCHER = ["python3", "-m", "labinstrument.launchers.werkzeug"]


def declared(command: list[str]) -> dict | None:
    """``{"server", "threaded", "processes"}`` from a launcher command, else None."""
    if command[:3] != _LAUNCHER:
        return None
    from labinstrument.launchers.werkzeug import build_parser

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
