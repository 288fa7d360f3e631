"""The app's endpoints and parameter checks, through Flask's test client."""

import pytest

from labapp import settings
from labapp.app import MAX_IO_MS, MAX_SLOW_SECONDS, create_app
from labapp.inflight import InflightCounter
from labapp.middleware import INFLIGHT_HEADER, TIMING_HEADER


@pytest.fixture
def counter(tmp_path):
    return InflightCounter(str(tmp_path / "inflight"))


@pytest.fixture
def client(counter):
    return create_app(counter).test_client()


def test_slow_keeps_the_seed_answer(client):
    resp = client.get("/slow?time=0")
    assert resp.status_code == 200
    assert resp.get_data(as_text=True) == "Slept for 0 seconds."


@pytest.mark.parametrize("query, message", [
    ("time=abc", "whole number"),
    ("time=1.5", "whole number"),
    ("time=-1", "between 0 and"),
    (f"time={MAX_SLOW_SECONDS + 1}", "between 0 and"),
    ("time=", "whole number"),
    ("time=1_0", "whole number"),
    ("time=%201", "whole number"),
])
def test_slow_rejects_bad_time_with_400(client, query, message):
    resp = client.get(f"/slow?{query}")
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert message in resp.get_json()["error"]


def test_io_sleeps_and_reports(client):
    resp = client.get("/io?ms=1")
    assert resp.status_code == 200
    assert resp.get_json() == {"slept_ms": 1}


@pytest.mark.parametrize("query", ["ms=x", "ms=-5", f"ms={MAX_IO_MS + 1}", "ms=1e3"])
def test_io_rejects_bad_ms_with_400(client, query):
    resp = client.get(f"/io?{query}")
    assert resp.status_code == 400
    assert "ms must be" in resp.get_json()["error"]


def test_unknown_path_is_a_json_404(client):
    resp = client.get("/nope")
    assert resp.status_code == 404
    assert "error" in resp.get_json()


def test_counted_responses_carry_inflight_and_timing(client):
    resp = client.get("/io?ms=5")
    assert resp.headers[INFLIGHT_HEADER] == "1"
    name, dur = resp.headers[TIMING_HEADER].split(";dur=")
    assert name == "app" and float(dur) >= 5.0


def test_errors_are_counted_and_released(client, counter):
    assert client.get("/io?ms=bad").headers[INFLIGHT_HEADER] == "1"
    assert counter.read() == 0


def test_healthz_is_not_counted_and_reports_the_server(client, counter, monkeypatch):
    monkeypatch.setenv(settings.SETTINGS_ENV, '{"server": "gunicorn", "workers": 4}')
    counter.enter()  # one request of someone else's in flight
    resp = client.get("/healthz")
    assert INFLIGHT_HEADER not in resp.headers
    assert resp.get_json() == {"status": "ok", "inflight": 1,
                               "server": {"server": "gunicorn", "workers": 4}}
    assert counter.read() == 1
