"""nginx on 127.0.0.1:8080: routes /<configuration>/<path> for the declared configurations
only, and answers every error in JSON."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from wsgilab.lab.probe import DEFAULT_BASE_URL


def _status_and_json(path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(DEFAULT_BASE_URL + path, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.parametrize("path, status", [
    ("/healthz", 200),
    ("/", 404),
    ("/no-such-service/healthz", 404),   # not a declared configuration: never proxied
    ("/postgres/", 404),                  # the backends are not configurations
    ("/upstream/wait?ms=1", 404),
    ("/nginx/healthz", 404),
    ("/gunicorn-sync/no-such-path", 404),
])
def test_front_end_routes_and_errors(lab, path, status):
    got, body = _status_and_json(path)
    assert got == status, f"GET {path}: expected HTTP {status}, got {got} {body}"
    assert ("error" in body) == (status != 200), f"GET {path}: unexpected body {body}"
