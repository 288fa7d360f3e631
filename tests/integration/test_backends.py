"""The real-I/O backends: declared once, read back, reachable only from the app containers,
and each configuration's loop as it reports it."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest

from support import health
from wsgilab import families as servers
from wsgilab.lab import compose
from wsgilab.lab.probe import DEFAULT_BASE_URL, Probe
from wsgilab.workloads import db

#: The configurations gevent or eventlet patch (their servers' own worker classes).
PATCHED_BY = {"gunicorn-gevent": "gevent", "gunicorn-gevent-preload": "gevent",
              "uwsgi-gevent": "gevent", "gunicorn-eventlet": "eventlet"}


def test_max_connections_is_what_compose_declares(lab):
    command = compose.config()["services"][db.DATABASE]["command"]
    declared = int(re.search(r"max_connections=(\d+)", " ".join(command)).group(1))
    running = db.backend(Probe())["max_connections"]
    assert running == declared, (
        f"compose declares max_connections={declared}; PostgreSQL runs {running}")


@pytest.mark.parametrize("path", ["/postgres/", "/upstream/delay?ms=1", "/upstream/stats"])
def test_the_backends_are_never_reached_through_nginx(lab, path):
    try:
        with urllib.request.urlopen(DEFAULT_BASE_URL + path, timeout=10) as resp:
            status = resp.status
    except urllib.error.HTTPError as err:
        status = err.code
    assert status >= 400, f"GET {path} through nginx answered {status}, expected an error"


def test_each_configuration_reports_the_loop_that_patched_it(lab, service):
    runtime = health(service)["runtime"]
    expected = PATCHED_BY.get(service)
    model = servers.model(health(service)["server"])
    assert runtime["patched_by"] == expected, (
        f"{service}: expected patched by {expected}, it reports {runtime['patched_by']}")
    assert model.event_loop == (expected is not None), (
        f"{service}: the model says event_loop={model.event_loop}, the process reports "
        f"patched_by={runtime['patched_by']}")


def test_preloading_before_gevent_patches_is_warned_about(lab):
    """gunicorn --preload imports the app (and its drivers) in the master; each gevent
    worker patches afterwards, and gevent says so."""
    logs = compose.logs("gunicorn-gevent-preload", tail=400)
    assert "MonkeyPatchWarning: Monkey-patching ssl after ssl has already been imported" in logs, (
        "expected gevent's MonkeyPatchWarning in gunicorn-gevent-preload's log")
    assert "MonkeyPatchWarning" not in compose.logs("gunicorn-gevent", tail=400), (
        "gunicorn-gevent (no --preload) should patch before anything is imported")
