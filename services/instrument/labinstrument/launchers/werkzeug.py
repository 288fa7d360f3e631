"""Serve the app with Werkzeug's development server, as Flask's ``app.run()`` does.

    python -m labinstrument.launchers.werkzeug --no-threaded    # app.run(threaded=False)
    python -m labinstrument.launchers.werkzeug --threaded       # app.run(), Flask's default
    python -m labinstrument.launchers.werkzeug --no-threaded --processes 3
                                                # app.run(threaded=False, processes=3)

The flags map one to one onto ``app.run`` keywords, which Flask passes to Werkzeug's
``run_simple``; so does this launcher, for any WSGI application (``labinstrument.wsgi``).
The debugger and the reloader stay off, as they must outside a laptop.
"""

from __future__ import annotations

import argparse
from importlib.metadata import version

from .. import agent, settings


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``--[no-]threaded``, ``--processes N``, ``--host``, ``--port``."""
    parser = argparse.ArgumentParser(prog="python -m labinstrument.launchers.werkzeug", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threaded", action=argparse.BooleanOptionalAction, default=True,
                        help="one thread per request (app.run's default since Flask 1.0)")
    parser.add_argument("--processes", type=int, default=1,
                        help="fork a process per request, at most this many at once")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv``, publish the settings, and serve until stopped.

    Raises:
        SystemExit: an option Werkzeug would refuse (checked before the app is imported).
    """
    args = build_parser().parse_args(argv)
    if args.processes < 1:
        raise SystemExit("--processes must be at least 1")
    if args.threaded and args.processes > 1:
        # Werkzeug refuses the combination too ("Cannot have a multi-thread and
        # multi-process server."); say so before the app is even imported.
        raise SystemExit("--threaded and --processes > 1 cannot be combined")
    # Published before the app is created, so the health endpoint can report how it is served.
    settings.publish({
        "server": "werkzeug",
        "version": version("werkzeug"),
        "threaded": args.threaded,
        "processes": args.processes,
    })
    from werkzeug.serving import run_simple

    from ..wsgi import app

    agent.start()
    run_simple(args.host, args.port, app, use_reloader=False, use_debugger=False,
               threaded=args.threaded, processes=args.processes)


if __name__ == "__main__":
    main()
