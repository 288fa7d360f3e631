"""The caps and verdict rules of wsgilab.theory."""

import pytest

from wsgilab.theory import (CLIENT_BOUND_MIN_FRACTION, LITTLE_LAW_TOLERANCE, Capacity,
                            UnknownServer, capacity, expect, judge)

GUNICORN = {"server": "gunicorn", "workers": 4, "threads": 1, "worker_connections": 1000}


@pytest.mark.parametrize("settings, limit", [
    ({"server": "werkzeug", "threaded": False, "processes": 1}, 1),
    ({"server": "werkzeug", "threaded": False, "processes": 3}, 3),
    ({"server": "werkzeug", "threaded": True, "processes": 1}, None),
    ({**GUNICORN, "worker_class": "sync"}, 4),
    ({**GUNICORN, "worker_class": "gthread", "workers": 2, "threads": 4}, 8),
    ({**GUNICORN, "worker_class": "gevent"}, 4000),
    ({**GUNICORN, "worker_class": "eventlet", "worker_connections": 50}, 200),
])
def test_capacity_follows_the_settings(settings, limit):
    assert capacity(settings).limit == limit


@pytest.mark.parametrize("settings", [
    {**GUNICORN, "worker_class": "tornado"},
    {"server": "uvicorn"},
    {},
])
def test_capacity_refuses_what_it_has_no_theory_for(settings):
    with pytest.raises(UnknownServer):
        capacity(settings)


def test_gthread_with_several_workers_only_sustains_one_pool():
    cap = capacity({**GUNICORN, "worker_class": "gthread", "workers": 2, "threads": 4})
    assert (cap.limit, cap.floor) == (8, 4)
    e = expect(cap, 10)
    assert (e.inflight, e.server_bound, e.sustained) == (8, True, 4)
    assert e.min_little == pytest.approx(4 * (1 - LITTLE_LAW_TOLERANCE))
    one_worker = capacity({**GUNICORN, "worker_class": "gthread", "workers": 1, "threads": 8})
    assert (one_worker.limit, one_worker.floor) == (8, 8)


def test_expectation_is_the_cap_when_vus_exceed_it():
    e = expect(Capacity(4, "workers = 4"), 10)
    assert (e.inflight, e.server_bound, e.min_peak) == (4, True, 4)


def test_expectation_is_the_vus_when_the_server_has_room():
    e = expect(Capacity(None, "no cap"), 40)
    assert (e.inflight, e.server_bound) == (40, False)
    assert e.min_peak == 36  # ceil(0.9 x 40)
    e = expect(Capacity(4, "workers = 4"), 4)
    assert (e.inflight, e.server_bound) == (4, False)


def test_judge_passes_an_exact_server_bound_run():
    assert judge(expect(Capacity(4, ""), 10), peak=4, little=3.9, failures=0) == []


@pytest.mark.parametrize("peak", [3, 5])
def test_judge_wants_the_exact_cap_when_server_bound(peak):
    problems = judge(expect(Capacity(4, ""), 10), peak=peak, little=4.0, failures=0)
    assert problems == [f"server-side peak in flight: expected exactly 4, measured {peak}"]


def test_judge_applies_the_little_tolerance():
    e = expect(Capacity(4, ""), 10)
    low = 4 * (1 - LITTLE_LAW_TOLERANCE)
    assert judge(e, 4, low + 0.01, 0) == []
    assert "Little's law" in judge(e, 4, low - 0.01, 0)[0]


def test_judge_client_bound_needs_most_vus():
    e = expect(Capacity(None, ""), 40)
    assert judge(e, 36, 40 * CLIENT_BOUND_MIN_FRACTION, 0) == []
    assert judge(e, 35, 39.0, 0) == ["server-side peak in flight: expected 36..40, measured 35"]


def test_judge_reports_failures():
    assert judge(expect(Capacity(1, ""), 2), 1, 1.0, failures=3) == [
        "3 requests failed (expected none)"]
