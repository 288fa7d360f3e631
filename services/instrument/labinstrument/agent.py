"""The lab's agent in every container it measures: the cgroup's counters over HTTP, on a
port of its own, outside the server's concurrency.

The lab reads a container's CPU time, memory and tasks at two instants of each level. Asked
through the server (``/_lab/health``), the question would queue behind the load on a server
that runs one request at a time (a sync worker at 40 VUs answers it seconds late, after the
window it was meant to close), so the answer comes from a process of its own: forked by the
server's main process before its workers (gunicorn's arbiter, uWSGI's master, the
launchers' process: ``start``) or, in the containers that run no Python server (nginx,
PostgreSQL), started beside it (``main``). Either way it is inside the container's cgroup:
its memory and its task are part of what it reports, as they are part of what the
container holds.

    GET /_lab/cgroup    {"cpu_ns", "throttled_periods", "memory_bytes", "memory_max_bytes",
                         "pids", "memory_events", "taken_ns"}  (``container.counters``,
                         ``memory_events``; ``taken_ns``: this host's CLOCK_MONOTONIC when
                         they were read, so that a rate is over the agent's own interval,
                         not over the time the answer took to arrive)

A backend adds its own routes (``labinstrument.postgres``; the upstream service's container,
the lab's own clients inside its networks: ``labinstrument.clients``). Anything else is a JSON 404, a
method other than GET or HEAD a JSON 405, a malformed parameter a JSON 400; nothing in an
answer names a file or a line of this code. The port is reachable on the lab's own networks
only (nothing publishes it); the front end proxies ``/_lab/<container>/<route>`` to it
(services/nginx/nginx.conf).

    python3 -m labinstrument.agent [--postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import container, postgres
from .errors import BadRequest

#: The agent's port in every container (wsgilab/lab/probe.py AGENT_PORT and nginx.conf's
#: proxy_pass; a unit test keeps the three equal).
PORT = 9000
CGROUP_PATH = "/_lab/cgroup"


#: A route: the query's parameters (name -> last value) -> the JSON answer.
Route = Callable[[dict[str, str]], dict]


def cgroup(_query: dict[str, str]) -> dict:
    """The ``/_lab/cgroup`` answer: ``container.counters``, ``memory_events`` and
    ``taken_ns``, the monotonic clock (nanoseconds) read just before the counters."""
    taken_ns = time.monotonic_ns()
    return {**container.counters(), "memory_events": container.memory_events(),
            "taken_ns": taken_ns}


ROUTES: dict[str, Route] = {CGROUP_PATH: cgroup}


def handler(routes: dict[str, Route]) -> type[BaseHTTPRequestHandler]:
    """A request handler answering ``routes`` (path -> route) in JSON."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "lab-agent"
        sys_version = ""

        def _answer(self, status: int, body: dict, send_body: bool = True) -> None:
            data = json.dumps(body, sort_keys=True).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if send_body:
                self.wfile.write(data)

        def do_GET(self, send_body: bool = True) -> None:  # noqa: N802 (http.server's name)
            target = urlsplit(self.path)
            route = routes.get(target.path)
            if route is None:
                self._answer(404, {"error": f"no such route; the agent answers {sorted(routes)}"},
                             send_body)
                return
            query = {k: v[-1] for k, v in parse_qs(target.query, keep_blank_values=True).items()}
            try:
                self._answer(200, route(query), send_body)
            except BadRequest as exc:
                self._answer(400, {"error": str(exc)}, send_body)
            except Exception:  # noqa: BLE001 (nothing internal leaves the container)
                self._answer(500, {"error": "the agent could not read this; see its log"},
                             send_body)
                raise

        def do_HEAD(self) -> None:  # noqa: N802
            self.do_GET(send_body=False)

        def _refuse(self) -> None:
            self._answer(405, {"error": "the agent answers GET and HEAD only"})

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse  # noqa: N815

        def log_message(self, *args) -> None:  # the lab asks twice a level: no log
            pass

    return Handler


class AgentServer(ThreadingHTTPServer):
    """The agent's HTTP server; with ``parent`` set, it stops once that process is gone."""

    daemon_threads = True
    parent: int | None = None

    def service_actions(self) -> None:  # socketserver calls it every poll_interval
        if self.parent is not None and os.getppid() != self.parent:
            raise SystemExit(0)


def server(routes: dict[str, Route] | None = None, port: int = PORT) -> AgentServer:
    """An agent bound to ``port`` on every interface of the container, not yet serving.

    Raises:
        OSError: the port is taken.
    """
    return AgentServer(("0.0.0.0", port), handler(routes or ROUTES))


#: Seconds between two checks that the process the agent was forked from is still there.
PARENT_POLL_S = 0.5
#: Signals a server's main process handles itself: its forked agent takes the defaults.
_INHERITED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGCHLD",
              "SIGTTIN", "SIGTTOU", "SIGWINCH")
_child: int | None = None


def start(routes: dict[str, Route] | None = None) -> int:
    """Fork the agent from this process, once: the server's main process calls it before
    it starts its workers. A process, not a thread: uWSGI's master holds the GIL in its C
    loop unless threads are enabled, and gevent's early patching turns a thread into a
    greenlet its master never runs. The port is bound here, so that a taken port stops the
    server's own start-up. The agent leaves when its parent does.

    Returns:
        the agent's pid.

    Raises:
        OSError: the port is taken.
    """
    global _child
    if _child is not None:
        return _child
    httpd = server(routes)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the agent
        for name in _INHERITED:
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        httpd.parent = parent
        try:
            httpd.serve_forever(poll_interval=PARENT_POLL_S)
        finally:
            os._exit(0)  # never the server's own exit handlers
    httpd.server_close()  # the server keeps no copy of the agent's socket
    _child = pid
    return pid


def main(argv: list[str] | None = None) -> None:
    """Serve the agent in the foreground until SIGTERM (a process beside a server that is
    not Python: it exits 0, so that a parent that reaps it sees no crash)."""
    parser = argparse.ArgumentParser(prog="python3 -m labinstrument.agent")
    parser.add_argument("--postgres", action="store_true",
                        help="also answer the database's own figures (labinstrument.postgres)")
    args = parser.parse_args(argv)
    routes = dict(ROUTES)
    if args.postgres:
        routes.update(postgres.ROUTES)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server(routes).serve_forever()


if __name__ == "__main__":
    main()
