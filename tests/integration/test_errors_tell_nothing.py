"""Errors that tell nothing internal, and a proxy that forwards what the client sent, on
one configuration of each server family.

- a number too long for int() is the app's own 400 (it was a 500 on werkzeug, waitress,
  granian and uWSGI);
- an encoded ``?`` or ``#`` reaches the app encoded: its path is not found (404), where a
  decoded one would have been served as /io (200);
- a backend that refuses or is down is a 503 whose body names no address, port, file or
  driver text;
- a malformed chunked body gets nginx's own 400, in JSON.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_hostile_input import FAMILIES, send

from wsgilab.lab.engine import DockerEngine
from wsgilab.lab.session import LabSession

#: What no answer may carry: an address, a port, PostgreSQL's or a driver's own words.
INTERNAL = ("172.", "192.168.", "10.", ":5432", "5432", "FATAL", ".c:", "Connection refused",
            "errno", "Traceback", "psycopg", "pg8000", "libpq", "postgres:", "could not translate")
END = b"Host: lab\r\nConnection: close\r\n\r\n"


def _get(service: str, target: str) -> tuple[int, dict]:
    status, body = send(b"GET /" + service.encode() + target.encode() + b" HTTP/1.1\r\n" + END)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, {"not_json": body[:120].decode(errors="replace")}


def _leaks(body: dict) -> list[str]:
    text = json.dumps(body)
    return [word for word in INTERNAL if word in text]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("digits", ["0" * 4400 + "5", "9" * 4400])
def test_a_number_too_long_for_int_is_a_400(lab, family, digits):
    service = FAMILIES[family]
    status, body = _get(service, f"/slow?time={digits}")
    expected = 414 if family == "gunicorn" else 400  # gunicorn's request-line limit first
    assert status == expected and "error" in body, (
        f"{service}: /slow?time=<{len(digits)} digits>: expected {expected} with a JSON error, "
        f"got {status} {body}")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("encoded", ["%3Fms=5", "%23x"])
def test_an_encoded_character_reaches_the_app_encoded(lab, family, encoded):
    service = FAMILIES[family]
    status, body = _get(service, f"/io{encoded}")
    assert status == 404 and "error" in body, (
        f"{service}: /io{encoded} must reach the app as one path segment and not be found; "
        f"got {status} {body} (a 200 means the proxy decoded it)")


@pytest.mark.parametrize("family", FAMILIES)
def test_a_malformed_chunked_body_is_nginxs_json_400(lab, family):
    service = FAMILIES[family]
    status, body = send(b"POST /" + service.encode() + b"/io HTTP/1.1\r\nHost: lab\r\n"
                        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n")
    assert status == 400 and "error" in json.loads(body), f"{service}: {status} {body[:120]!r}"


def test_a_stopped_database_is_a_503_that_tells_nothing_internal(lab):
    with LabSession(DockerEngine(), out=lambda line: None) as session:
        session.stop("postgres")
        answers = {family: _get(service, "/db?ms=10&driver=psycopg2")
                   for family, service in FAMILIES.items()}
    bad = {f: a for f, a in answers.items() if a[0] != 503 or "error" not in a[1] or _leaks(a[1])}
    assert not bad, f"expected a generic JSON 503 from every family, got {bad}"


def test_too_many_clients_is_a_generic_503(lab):
    """More requests at once than PostgreSQL's max_connections leaves the app: every
    refusal a 503 saying so, with no address, port or PostgreSQL text."""
    service = "gunicorn-gevent"  # a cap far above max_connections
    with ThreadPoolExecutor(26) as pool:
        answers = list(pool.map(lambda _: _get(service, "/db?ms=1500&driver=psycopg"), range(26)))
    refused = [body for status, body in answers if status == 503]
    assert refused, f"expected some of 26 requests at once refused, got {[s for s, _ in answers]}"
    leaks = [body for body in refused if _leaks(body)]
    assert not leaks, f"503 bodies tell internals: {leaks[:3]}"
    assert {b["error"] for b in refused} == {"the database refused the connection: too many clients"}, (
        {b["error"] for b in refused})
