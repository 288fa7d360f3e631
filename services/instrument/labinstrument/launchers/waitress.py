"""Serve the app with waitress, as ``waitress-serve`` would, and publish its adjustments.

    python -m labinstrument.launchers.waitress --threads 4 --connection-limit 100 \\
        --backlog 1024 --listen 0.0.0.0:8000 labinstrument.wsgi:app

The command line is waitress-serve's own: ``waitress.runner.run`` parses it with
``Adjustments.parse_args`` and imports the app; the server it then creates holds the
resolved ``Adjustments`` (``server.adj``), which this launcher publishes before serving.
"""

from __future__ import annotations

import sys
from importlib.metadata import version

from waitress import runner
from waitress.adjustments import Adjustments
from waitress.server import create_server

from .. import agent, settings

#: The adjustments that set how many requests waitress takes in and runs at once
#: (``waitress/adjustments.py``; docs ``arguments.rst``).
KEYS = ("threads", "connection_limit", "backlog", "channel_timeout", "asyncore_use_poll")


def resolved(adj: Adjustments) -> dict:
    """``{"server": "waitress", "version", "threads", "connection_limit", ...}``."""
    return {"server": "waitress", "version": version("waitress"),
            **{key: getattr(adj, key) for key in KEYS}}


def declared(argv: list[str]) -> dict:
    """What ``argv`` (waitress-serve's arguments) resolves to, with waitress's own parser.

    Raises:
        getopt.GetoptError: an option waitress-serve does not have.
    """
    kw, _ = Adjustments.parse_args(argv)
    kw = {k: v for k, v in kw.items() if k not in ("call", "help")}
    return resolved(Adjustments(**kw))


def _serve(app, **kw) -> None:
    server = create_server(app, **kw)
    settings.publish(resolved(server.adj))
    agent.start()
    server.print_listen("Serving on http://{}:{}")
    server.run()


def main(argv: list[str] | None = None) -> int:
    """Run waitress-serve's runner with ``argv``; returns its exit status."""
    return runner.run(["waitress-serve", *(sys.argv[1:] if argv is None else argv)], _serve=_serve)


if __name__ == "__main__":
    sys.exit(main())
