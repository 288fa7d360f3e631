"""The real-I/O rules: which driver or client blocks which event loop, and what follows."""

import gevent
import gevent.monkey
import pytest

from labapp import db as app_db
from labapp import upstream as app_upstream
from wsgilab import workloads
from wsgilab.model.facts import Facts
from wsgilab.model.load import Closed
from wsgilab.model.theory import (
    BLOCKS,
    BLOCKS_AFTER_YIELDING,
    COOPERATIVE,
    OBSERVER_SAMPLING_TOLERANCE,
    Capacity,
    real_io_checks,
)
from wsgilab.workloads import db, upstream
from wsgilab.workloads.base import ObserverError

GEVENT_4 = Capacity(4000, "workers x worker_connections = 4 x 1000", parallelism=4,
                    processes=5, event_loop=True)
SYNC_4 = Capacity(4, "workers = 4", parallelism=4, processes=5)
BACKEND = {"max_connections": 20, "superuser_reserved_connections": 3, "sessions_open": 0}


def facts(cap, loop, preload=False):
    return Facts(capacity=cap, settings={"preload_app": preload}, cpus=1.0, cpuset_cpus=1,
                 memory_bytes=2**28, pids=256, runtime={"patched_by": loop, "db_pool_size": 4},
                 backend=BACKEND)


def check(checks, name):
    return next(c for c in checks if c.name == name)


def test_the_workloads_bench_what_the_app_serves():
    assert db.DRIVERS == app_db.DRIVERS
    assert upstream.CLIENTS == app_upstream.CLIENTS


@pytest.mark.parametrize("driver, loop, preload, behaviour", [
    ("psycopg2", "gevent", False, BLOCKS),
    ("psycopg2", "eventlet", False, COOPERATIVE),
    ("psycopg2-green", "gevent", False, COOPERATIVE),
    ("psycopg", "gevent", False, COOPERATIVE),
    ("psycopg", "gevent", True, BLOCKS_AFTER_YIELDING),
    ("psycopg", "eventlet", False, BLOCKS_AFTER_YIELDING),
    ("pg8000", "gevent", True, COOPERATIVE),
    ("psycopg2", None, False, COOPERATIVE),
])
def test_which_driver_blocks_which_loop(driver, loop, preload, behaviour):
    assert db.blocks_loop(driver, loop, preload)[0] == behaviour


def test_a_blocking_driver_under_gevent_gives_one_query_per_worker():
    level = workloads.get("db").level("gunicorn-gevent", Closed(16), {"driver": "psycopg2"})
    checks = workloads.get("db").expect(facts(GEVENT_4, "gevent"), level)
    assert (check(checks, "peak").low, check(checks, "peak").high) == (4, 4)
    assert check(checks, "backend_peak").high == 4


def test_a_cooperative_driver_gives_every_vu_up_to_the_database():
    db_w = workloads.get("db")
    checks = db_w.expect(facts(GEVENT_4, "gevent"), db_w.level("x", Closed(16), {"driver": "pg8000"}))
    assert check(checks, "backend_peak").high == 16
    assert check(checks, "failures").high == 0
    past = db_w.expect(facts(GEVENT_4, "gevent"), db_w.level("x", Closed(24), {"driver": "pg8000"}))
    # max_connections 20 - 3 reserved - the observer's own psql session
    assert check(past, "backend_peak").high == 16
    assert check(past, "refused").low == 1 and check(past, "refused_cleanly").high == 0
    # Refused VUs back off in k6: the app holds between the 16 served and the 24 VUs.
    assert (check(past, "peak").low, check(past, "peak").high) == (16, 24)
    # The app sustains what the database serves: 15.5 of 16 passes, 12 (a backend serving
    # fewer than it should) does not.
    little = check(past, "little")
    assert little.problem(15.5) is None and little.problem(12.0), little.expected()


@pytest.mark.parametrize("backend, usable", [
    (BACKEND, 16),
    # A session someone else holds (a psql of one's own, a pool left open) takes a slot.
    ({**BACKEND, "sessions_open": 2}, 14),
    # Records made before sessions_open was read: only the observer was connected.
    ({"max_connections": 20, "superuser_reserved_connections": 3}, 16),
])
def test_every_open_session_takes_a_slot_from_the_app(backend, usable):
    assert db.usable_connections(backend)[0] == usable


def test_a_pool_caps_the_database_at_its_size_per_serving_process():
    db_w = workloads.get("db")
    level = db_w.level("x", Closed(24), {"driver": "psycopg", "connections": "pool"})
    checks = db_w.expect(facts(GEVENT_4, "gevent"), level)
    assert check(checks, "backend_peak").high == 4 * 4
    assert check(checks, "peak").high == 24  # the others wait for a connection in the app
    assert db_w.restart_after(level) and not db_w.restart_after(db_w.level("x", Closed(24)))


def test_blocking_after_yielding_lets_more_into_the_app_than_reach_the_backend():
    checks = real_io_checks(GEVENT_4, 16, BLOCKS_AFTER_YIELDING, "why", "db_active_peak")
    assert (check(checks, "peak").low, check(checks, "peak").high) == (4, 16)
    assert check(checks, "backend_peak").high == 4
    assert check(checks, "backend_peak").low == int(4 * (1 - OBSERVER_SAMPLING_TOLERANCE))


def test_without_an_event_loop_the_server_cap_holds_whatever_the_driver():
    checks = real_io_checks(SYNC_4, 16, BLOCKS, "why", "db_active_peak")
    assert check(checks, "peak").high == 4 and check(checks, "backend_peak").high == 4


def test_pycurl_blocks_an_event_loop_and_requests_does_not():
    up = workloads.get("upstream")
    blocked = up.expect(facts(GEVENT_4, "gevent"), up.level("x", Closed(40), {"client": "pycurl"}))
    free = up.expect(facts(GEVENT_4, "gevent"), up.level("x", Closed(40), {"client": "requests"}))
    assert check(blocked, "backend_peak").high == 4 and check(free, "backend_peak").high == 40


def test_gevent_has_no_monkey_patch_function_but_monkey_patch_all():
    """The seed blog's `gevent.monkey_patch()` does not exist; `gevent.monkey.patch_all()`
    is gevent's entry point (gevent docs, "gevent.monkey")."""
    assert not hasattr(gevent, "monkey_patch")
    assert callable(gevent.monkey.patch_all)


class _Front:
    """A Probe stand-in: the upstream's count as the front end would answer it."""

    def __init__(self, fail=False):
        self.asked, self.fail = [], fail
        self.state = {"inflight": 3, "peak": 9, "served": 100}

    def backend(self, name, path="", method="GET"):
        self.asked.append((name, path, method))
        if self.fail:
            raise ConnectionError("GET http://127.0.0.1:8080/_lab/upstream/stats did not answer")
        if path == "/reset":
            self.state["peak"] = self.state["inflight"]
        else:
            self.state.update(peak=40, served=180)
        return dict(self.state)


def test_the_upstream_count_is_read_over_http_not_through_the_engine():
    front = _Front()
    peak = upstream.UpstreamPeak(front, 10.0)
    peak.start()
    assert peak.figures() == {"upstream_peak": 40, "upstream_served": 80}
    assert front.asked == [("upstream", "/reset", "POST"), ("upstream", "", "GET")], front.asked
    with pytest.raises(ObserverError, match="upstream's own count"):
        upstream.UpstreamPeak(_Front(fail=True), 10.0).start()


class _Agents:
    """A Probe stand-in: the database's agent as the front end would answer it."""

    def __init__(self, fail=False):
        self.asked, self.fail = [], fail

    def agent(self, container, route, timeout_s=10.0, **params):
        self.asked.append((container, route, params))
        if self.fail:
            raise ConnectionError("GET http://127.0.0.1:8080/_lab/postgres/ did not answer")
        if route == "postgres/settings":
            return {"max_connections": "20", "superuser_reserved_connections": "3",
                    "sessions_open": "1"}
        return {"counts": [0, 4, 12, 11, 0], "every_s": db.SAMPLE_S}


def test_the_database_figures_are_read_from_its_agent_over_http():
    agents = _Agents()
    assert db.backend(agents) == {"max_connections": 20, "superuser_reserved_connections": 3,
                                  "sessions_open": 1}
    active = db.ActiveQueries(agents, 1.0)
    active.start()
    assert active.figures() == {"db_active_peak": 12, "db_samples": 5}
    samples = int(1.0 / db.SAMPLE_S) + 1
    assert agents.asked[-1] == ("postgres", "postgres/active", {"samples": samples}), agents.asked
    with pytest.raises(ObserverError, match="postgres's own figures"):
        db.backend(_Agents(fail=True))
    failed = db.ActiveQueries(_Agents(fail=True), 1.0)
    failed.start()
    with pytest.raises(ObserverError, match="postgres's own figures"):
        failed.figures()
