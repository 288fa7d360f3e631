"""The seeds' own experiment, through nginx: two requests to /slow at once.

Blog post (seed 002): "open two browser tabs ... the second request will wait until the
first one finishes. The Flask development server is single-threaded". That holds for
app.run(threaded=False) only: app.run() has been threaded by default since Flask 1.0.
The check compares counts (X-Inflight), not times.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from support import health
from wsgilab import families as servers
from wsgilab.lab.probe import DEFAULT_BASE_URL

TABS = 2


def _get(url: str):
    """(status, headers, body); the headers keep HTTPMessage's case-insensitive lookup:
    granian (hyper) sends header names in lower case."""
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()


def test_two_tabs_at_once(lab, service):
    url = f"{DEFAULT_BASE_URL}/{service}/slow?time=1"
    with ThreadPoolExecutor(TABS) as pool:
        answers = list(pool.map(_get, [url] * TABS))
    assert [a[2] for a in answers] == ["Slept for 1 seconds."] * TABS
    cap = servers.model(health(service)["server"])
    expected = TABS if cap.limit is None else min(TABS, cap.limit)
    seen = max(int(a[1]["X-Inflight"]) for a in answers)
    assert seen == expected, (
        f"{service} ({cap.formula}): expected {expected} of {TABS} tabs served at once, "
        f"measured {seen}")


def test_bad_parameters_are_a_400_with_a_message(lab, service):
    status, headers, body = _get(f"{DEFAULT_BASE_URL}/{service}/slow?time=soon")
    assert status == 400, f"{service}: /slow?time=soon answered {status}, expected 400"
    assert "whole number" in json.loads(body)["error"]
