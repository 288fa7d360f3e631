"""The lab's health and facts endpoint, under the reserved prefix ``/_lab/``: answered by
the instrument before the application sees the request, so it never collides with the
application's own routes and never enters its count.

``GET /_lab/health`` answers JSON: the requests in flight now and per process, the
requests each process has entered, the server's resolved settings, what the container
allows, every serving process's runtime facts (``processes``), gevent's blocked-hub
reports (``blocking``), and what the application itself reports through an optional
``lab_facts()`` callable in its module.
"""

from __future__ import annotations

import json

from . import blocking, container, processes, runtime, settings

PREFIX = "/_lab/"
HEALTH_PATH = "/_lab/health"


def report(counter, app_facts=None) -> dict:
    """The health answer's body."""
    return {"status": "ok", "inflight": counter.read(), "served_by_pid": counter.served(),
            "inflight_by_pid": counter.by_process(), "server": settings.current(),
            "container": container.facts(), "processes": processes.read_with_memory(),
            "runtime": {"patched_by": runtime.patched_by(), "python": runtime.python(),
                        "gil_enabled": runtime.gil_enabled()},
            "blocked": blocking.reports(), "app": app_facts() if app_facts else {}}


def answer(environ: dict, start_response, counter, app_facts=None):
    """The WSGI answer to a request under PREFIX: the health report, or a JSON 404."""
    if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
        status, body = "200 OK", report(counter, app_facts)
    else:
        status, body = "404 Not Found", {"error": f"{PREFIX} is the lab's; only GET {HEALTH_PATH}"}
    data = json.dumps(body, sort_keys=True).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))])
    return [data]
