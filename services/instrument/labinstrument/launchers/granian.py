"""Serve the app with granian, as the ``granian`` command would, and publish its settings.

    python -m labinstrument.launchers.granian --interface wsgi --host 0.0.0.0 --port 8000 \\
        --workers 1 --blocking-threads 8 --backpressure 1024 labinstrument.wsgi:app

The command line is granian's own: its click command (``granian.cli.cli``) parses it and
builds a ``Server``, whose ``__init__`` resolves the defaults (``backpressure = backlog //
workers``, WSGI ``blocking_threads = backpressure // 2``; ``granian/server/common.py``).
The launcher gives the click command a ``Server`` that publishes those resolved values
just before it serves, so what ``/_lab/health`` reports is what the running server holds.
"""

from __future__ import annotations

import sys

import granian
from granian import cli as granian_cli
from granian.server import Server

from .. import agent, settings

#: The server attributes that set how many requests granian runs at once.
KEYS = ("workers", "blocking_threads", "backpressure", "backlog", "runtime_threads")


def resolved(server: Server) -> dict:
    """``{"server": "granian", "version", "interface", "workers", "blocking_threads", ...}``."""
    interface = getattr(server.interface, "value", server.interface)
    return {"server": "granian", "version": granian.__version__, "interface": str(interface),
            **{key: getattr(server, key) for key in KEYS}}


class ReportingServer(Server):
    """granian's server, publishing its resolved settings before it serves."""

    def serve(self, *args, **kwargs):
        settings.publish(resolved(self))
        agent.start()
        return super().serve(*args, **kwargs)


class _CapturingServer(Server):
    """granian's server, built by the CLI and kept instead of served."""

    built: Server | None = None

    def serve(self, *args, **kwargs):
        type(self).built = self


def declared(argv: list[str]) -> dict:
    """What ``argv`` (granian's arguments) resolves to: parsed by granian's click command,
    resolved by its ``Server``, nothing served.

    Raises:
        click.ClickException: an option granian does not have.
    """
    granian_cli.Server = _CapturingServer
    try:
        granian_cli.cli.main(args=list(argv), prog_name="granian", standalone_mode=False)
    finally:
        granian_cli.Server = Server
    return resolved(_CapturingServer.built)


def main(argv: list[str] | None = None) -> None:
    """Run granian's command with ``argv`` until it is stopped."""
    granian_cli.Server = ReportingServer  # the name cli() builds its server with
    granian_cli.cli(args=sys.argv[1:] if argv is None else argv, prog_name="granian",
                    auto_envvar_prefix="GRANIAN")


if __name__ == "__main__":
    main()
