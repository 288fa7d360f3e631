"""The demo app's endpoints and parameter checks, served as the lab serves it: wrapped in
the instrument (labinstrument), through Werkzeug's test client."""

import os

import pytest
from werkzeug.test import Client

from labapp.app import MAX_BACKEND_MS, MAX_CPU_MS, MAX_IO_MS, MAX_SLOW_SECONDS, create_app
from labinstrument import settings
from labinstrument.health import HEALTH_PATH
from labinstrument.inflight import InflightCounter
from labinstrument.middleware import INFLIGHT_HEADER, TIMING_HEADER, InflightMiddleware


@pytest.fixture
def counter(tmp_path):
    return InflightCounter(str(tmp_path / "inflight"))


@pytest.fixture
def client(counter, monkeypatch, tmp_path):
    from labapp.wsgi import lab_facts

    monkeypatch.setenv("LAB_PROCESSES_FILE", str(tmp_path / "processes.json"))
    monkeypatch.setenv("LAB_BLOCKED_FILE", str(tmp_path / "blocked.jsonl"))
    return Client(InflightMiddleware(create_app(), counter, app_facts=lab_facts))


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


@pytest.mark.parametrize("path", ["/io", "/cpu"])
@pytest.mark.parametrize("query", ["ms=x", "ms=-5", "ms=1e3", "ms=", "ms=%2010"])
def test_bad_ms_is_a_400_with_a_message(client, path, query):
    resp = client.get(f"{path}?{query}")
    assert resp.status_code == 400, f"{path}?{query}: {resp.status_code}"
    assert "ms must be" in resp.get_json()["error"]


@pytest.mark.parametrize("path, high", [("/io", MAX_IO_MS), ("/cpu", MAX_CPU_MS)])
def test_ms_above_its_bound_is_a_400(client, path, high):
    resp = client.get(f"{path}?ms={high + 1}")
    assert resp.status_code == 400
    assert f"between 0 and {high}" in resp.get_json()["error"]


def test_cpu_burns_at_least_what_it_was_asked_and_says_so(client):
    resp = client.get("/cpu?ms=20")
    assert resp.status_code == 200
    body = resp.get_json()
    # thread_time counts only this thread's CPU: the burn cannot stop short of its target.
    assert body["cpu_ms"] >= 20.0, body
    assert body["wall_ms"] >= body["cpu_ms"] * 0.99, body
    timings = dict(part.strip().split(";dur=") for part in resp.headers[TIMING_HEADER].split(","))
    assert set(timings) == {"cpu", "app"}, resp.headers[TIMING_HEADER]
    assert float(timings["cpu"]) == pytest.approx(body["cpu_ms"], abs=0.01)
    assert float(timings["app"]) >= float(timings["cpu"])


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


def test_the_labs_health_is_not_counted_and_reports_server_and_container(client, counter,
                                                                        monkeypatch):
    monkeypatch.setenv(settings.SETTINGS_ENV, '{"server": "gunicorn", "workers": 4}')
    counter.enter()  # one request of someone else's in flight
    resp = client.get(HEALTH_PATH)
    assert INFLIGHT_HEADER not in resp.headers
    body = resp.get_json()
    assert (body["status"], body["inflight"], body["server"]) == (
        "ok", 1, {"server": "gunicorn", "workers": 4})
    assert body["served_by_pid"] == {str(os.getpid()): 1}  # the request entered above
    assert set(body["container"]) == {"os_cpu_count", "affinity_cpus", "cfs_quota_cpus",
                                      "memory_limit_bytes", "pids_limit", "memory_events"}
    assert counter.read() == 1


@pytest.fixture
def no_backends(monkeypatch):
    """The database and upstream service pointed at a loopback port nothing listens on."""
    monkeypatch.setenv("LAB_DB_HOST", "127.0.0.1")
    monkeypatch.setenv("LAB_DB_PORT", "9")
    monkeypatch.setenv("LAB_UPSTREAM_URL", "http://127.0.0.1:9")


@pytest.mark.parametrize("query, message", [
    ("ms=10&driver=mysql", "driver must be one of"),
    ("ms=10&driver=psycopg&pool=yes", "pool must be one of"),
    ("ms=10&driver=pg8000&pool=1", "pool=1 takes a connection from psycopg_pool"),
    ("ms=-1&driver=psycopg", "ms must be"),
    (f"ms={MAX_BACKEND_MS + 1}&driver=psycopg", "ms must be between"),
])
def test_db_refuses_bad_parameters_with_400(client, no_backends, query, message):
    resp = client.get(f"/db?{query}")
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert message in resp.get_json()["error"]


#: What a 503 must never carry: an address, a port, a driver's or PostgreSQL's own words.
INTERNAL = ("127.0.0.1", "port", ":9", "FATAL", ".c:", "Connection refused", "errno",
            "Traceback", "psycopg", "pg8000", "libpq")


def assert_tells_nothing_internal(body: str) -> None:
    leaked = [word for word in INTERNAL if word.lower() in body.lower()]
    assert not leaked, f"expected a generic message, the body carries {leaked}: {body}"


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg2-green", "psycopg", "pg8000"])
def test_an_unreachable_database_is_a_generic_503_and_a_log_line(client, no_backends, driver,
                                                                 caplog):
    resp = client.get(f"/db?ms=10&driver={driver}")
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert resp.get_json() == {"error": "the database could not be reached"}
    assert_tells_nothing_internal(resp.get_data(as_text=True))
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "labapp.db")
    assert driver in logged and "Error: " in logged, f"the driver's own error is not logged: {logged!r}"


@pytest.mark.parametrize("error, reason", [
    (RuntimeError('FATAL:  sorry, too many clients already'), "too_many"),
    (RuntimeError("FATAL: remaining connection slots are reserved for non-replication "
                  "superuser connections"), "too_many"),
    (type("E", (Exception,), {"pgcode": "53300"})("anything"), "too_many"),
    (OSError("[Errno 111] Connection refused"), "unreachable"),
    (ValueError("something else at postgres.c:123"), "failed"),
])
def test_a_driver_error_maps_to_a_public_reason(error, reason):
    from labapp import db

    assert db._reason(error) == reason
    assert_tells_nothing_internal(db.PUBLIC_REASONS[reason])


def test_upstream_refuses_an_unknown_client_with_400(client, no_backends):
    resp = client.get("/upstream?ms=10&client=httpx")
    assert resp.status_code == 400
    assert "client must be one of requests, pycurl" in resp.get_json()["error"]


@pytest.mark.parametrize("client_name", ["requests", "pycurl"])
def test_an_unreachable_upstream_is_a_generic_503(client, no_backends, client_name):
    resp = client.get(f"/upstream?ms=10&client={client_name}")
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert resp.get_json() == {"error": "the upstream service could not be reached in time"}
    assert_tells_nothing_internal(resp.get_data(as_text=True))


@pytest.mark.parametrize("path", ["/io?ms=", "/cpu?ms=", "/slow?time=", "/db?ms="])
@pytest.mark.parametrize("digits", ["0" * 4400 + "5", "9" * 4400, "-" + "9" * 5000, "0" * 20000])
def test_a_number_past_pythons_digit_limit_is_a_400(client, no_backends, path, digits):
    resp = client.get(path + digits)
    assert resp.status_code == 400, f"{path}<{len(digits)} digits>: {resp.status_code}"
    message = resp.get_json()["error"]
    assert "must be between" in message and len(message) < 200, message


def test_the_labs_health_reports_the_runtime_and_the_apps_own_facts(client):
    body = client.get(HEALTH_PATH).get_json()
    assert body["runtime"]["patched_by"] is None  # the test process runs no event loop
    assert body["runtime"]["gil_enabled"] is True
    assert body["app"]["db_pool_size"] >= 1  # labapp.wsgi.lab_facts


def test_the_labs_prefix_never_reaches_the_app(client):
    resp = client.get("/_lab/anything")
    assert resp.status_code == 404 and "/_lab/" in resp.get_json()["error"]
    assert INFLIGHT_HEADER not in resp.headers


@pytest.mark.parametrize("path, module, name", [
    ("/db?ms=0&driver=psycopg2", "db", "psycopg2"),
    ("/upstream?ms=0&client=pycurl", "upstream", "pycurl"),
])
def test_a_driver_this_python_lacks_is_a_503_that_says_so(client, monkeypatch, path, module, name):
    """A free-threaded build may have no wheel of a driver (wsgilab/pythons.py): the app
    still runs, says which one is missing, and the health endpoint lists it."""
    import labapp.db
    import labapp.upstream

    target = {"db": labapp.db, "upstream": labapp.upstream}[module]
    monkeypatch.setattr(target, "UNAVAILABLE", {name: f"No module named '{name}'"})
    resp = client.get(path)
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert resp.get_json() == {"error": f"{'driver' if module == 'db' else 'client'} {name} "
                                        "is not installed on this configuration's Python"}
    health = client.get(HEALTH_PATH).get_json()
    assert health["app"]["unavailable"] == {name: f"No module named '{name}'"}, health["app"]
