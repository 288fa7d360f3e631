"""Open-model load, the objective, the capacity search and the instrument's own limit,
without Docker: the types, the search's logic against a server model, the arrival
statistics on synthetic k6 output, and k6's own reading of an open load."""

from __future__ import annotations

import gzip
import json
import math
import random
import subprocess

import pytest

from wsgilab import workloads
from wsgilab.lab import loadside
from wsgilab.lab.k6 import SCRIPTS, env_flags, k6_binary
from wsgilab.model import capacity, objective
from wsgilab.model.capacity import CAPACITY_TOLERANCE, MAX_STEPS, RESOLUTION, Search, Step
from wsgilab.model.levels import Level
from wsgilab.model.load import (
    CONSTANT,
    LOAD_SIDE_STALL_S,
    POISSON,
    Closed,
    Open,
    from_dict,
    open_vus,
    tick_rate,
)
from wsgilab.model.objective import Objective
from wsgilab.model.theory import Capacity, open_bound_rps, open_checks, open_figures

# --- the load type ----------------------------------------------------------------------

@pytest.mark.parametrize("load", [Closed(40), Open(16.0, 17), Open(12.5, 40, POISSON)])
def test_a_load_round_trips_and_names_its_level(load):
    assert from_dict(load.to_dict()) == load
    level = workloads.get("io").level("gunicorn-sync", load)
    assert Level.from_dict(level.to_dict()) == level
    assert load.tag in level.slug and load.describe() in level.describe()


def test_records_written_before_loads_were_a_type_read_as_closed():
    level = Level.from_dict({"configuration": "a", "workload": "io", "vus": 10, "params": {}})
    assert level.load == Closed(10) and level.closed


@pytest.mark.parametrize("bad", [lambda: Closed(0), lambda: Open(0, 5), lambda: Open(5, 0),
                                 lambda: Open(5, 5, "bursty")])
def test_a_load_refuses_what_it_cannot_be(bad):
    with pytest.raises(ValueError):
        bad()


def test_poisson_arrivals_thin_a_faster_tick():
    load = Open(40, 41, POISSON)
    assert load.tick_rate == 800 and load.send_probability == pytest.approx(0.05)
    env = load.k6_env()
    # k6's rate is a whole number per time unit: the rate to a thousandth of a req/s.
    assert env["RATE_PER_UNIT"] == "800000" and env["RATE_TIME_UNIT_S"] == "1000"
    assert Open(16, 17, CONSTANT).send_probability == 1.0
    # Past MAX_TICKS_PER_S the ticks per request fall: the probability rises, recorded.
    assert Open(500, 501, POISSON).send_probability == pytest.approx(0.25)


def test_open_vus_follow_the_rate_and_the_objective():
    assert open_vus(16, 0.5, 2.0) == 17  # 16 req/s x 0.5 s x 2 + 1
    assert open_vus(200, 0.0, 1.0) == 21  # a zero-work request: OPEN_MIN_LATENCY_S


def test_poisson_vus_also_cover_the_empty_ticks_over_a_load_side_stall():
    # 100 req/s ticks 2000 times a second: 1900 empty ticks a second, each on a VU while
    # k6 catches up after a stall of LOAD_SIDE_STALL_S.
    extra = math.ceil((tick_rate(100, POISSON) - 100) * LOAD_SIDE_STALL_S)
    assert open_vus(100, 0.5, 2.0, POISSON) == open_vus(100, 0.5, 2.0) + extra
    assert extra > open_vus(100, 0.5, 2.0)  # the ticks, not the requests, wanted the VUs


def test_k6_reads_an_open_load_as_an_arrival_rate_with_its_vus():
    params = {"SERVICE": "gunicorn-sync", "DURATION_S": "5", "WARMUP_S": "1",
              "SUMMARY_PATH": "/tmp/unused.json", "IO_MS": "250", **Open(16.5, 20).k6_env()}
    proc = subprocess.run([k6_binary(), "inspect", *env_flags(params), str(SCRIPTS / "io.js")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    (scenario,) = json.loads(proc.stdout)["scenarios"].values()
    assert scenario["executor"] == "constant-arrival-rate"
    assert scenario["rate"] == 16500 and scenario["timeUnit"] in ("1000s", "16m40s")
    assert scenario["preAllocatedVUs"] == scenario["maxVUs"] == 20


def test_k6_splits_an_open_mix_by_the_shares_of_its_scenarios():
    mixed = workloads.get("mixed")
    params = {"SERVICE": "x", "DURATION_S": "5", "WARMUP_S": "1", "SUMMARY_PATH": "/tmp/u",
              "IO_MS": "100", "CPU_MS": "200", "CPU_VUS": "1", **Open(40, 40).k6_env()}
    proc = subprocess.run([k6_binary(), "inspect", *env_flags(params), str(SCRIPTS / mixed.script)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    scenarios = json.loads(proc.stdout)["scenarios"]
    assert scenarios["io"]["rate"] + scenarios["cpu"]["rate"] == 40000


# --- the objective ------------------------------------------------------------------------

@pytest.mark.parametrize("text, percentile, bound", [("p99=500ms", "p99", 500.0),
                                                     ("p95=1.5s", "p95", 1500.0),
                                                     ("", "p99", None)])
def test_an_objective_is_read_from_the_command_line(text, percentile, bound):
    slo = objective.parse(text)
    assert (slo.percentile, slo.bound_ms) == (percentile, bound)
    assert slo.bound_for(250) == (bound or 500.0)  # the default: twice the service time


@pytest.mark.parametrize("bad", ["p90=500ms", "p99=fast", "p99<500ms", "p99=-1ms"])
def test_a_malformed_objective_is_refused(bad):
    with pytest.raises(ValueError, match="--slo takes"):
        objective.parse(bad)


# --- what an open level is judged on -----------------------------------------------------------

SYNC = Capacity(4, "workers = 4", parallelism=4, processes=5)
GTHREAD = Capacity(8, "workers x threads = 2 x 4", sustained=4, parallelism=2, processes=3)


def test_the_bound_is_the_sustained_concurrency_over_the_service_time():
    assert open_bound_rps(SYNC, 250) == 16.0
    assert open_bound_rps(GTHREAD, 250) == 16.0  # one worker's threads are sure (#3433)
    assert open_bound_rps(Capacity(None, "no cap"), 250) is None
    assert open_bound_rps(SYNC, 0) is None


def test_an_open_level_below_its_bound_drops_nothing_and_above_reaches_its_cap():
    below = {c.name: c for c in open_checks(SYNC, 8.0, 250)}
    assert below["dropped"].high == 0 and below["peak"].low == 1
    above = {c.name: c for c in open_checks(SYNC, 20.0, 250)}
    assert "dropped" not in above and above["peak"].low == above["peak"].high == 4


def test_open_figures_judge_what_was_offered_not_what_was_asked():
    # A Poisson stream asked 40 req/s and sent 43.8 in the window: serving 43.8 is all.
    values = open_figures({"throughput_rps": 43.8, "little_inflight": 10.95},
                          Capacity(None, "no cap"), 40.0, 250, 4.0, 175)
    assert values["offered_rps"] == pytest.approx(43.75)
    assert values["served_fraction"] == pytest.approx(1.0, abs=0.01)
    assert values["little_fraction"] == pytest.approx(1.0, abs=0.01)
    # Past the bound, serving the bound is all.
    past = open_figures({"throughput_rps": 16.0, "little_inflight": 4.0}, SYNC, 20.0, 250, 4.0, 80)
    assert past["served_fraction"] == pytest.approx(1.0)


# --- the capacity search ---------------------------------------------------------------------

def model(capacity_rps: float, noise: float = 0.0, seed: int = 1):
    """A server that meets the objective up to ``capacity_rps`` (with a little noise)."""
    rng = random.Random(seed)

    def measure(rate):
        passed = rate <= capacity_rps * (1 + rng.uniform(-noise, noise))
        return Step(rate, passed, "" if passed else "p99 over the objective")
    return measure


@pytest.mark.parametrize("true_capacity, maximum", [(3.9, 4.0), (16.4, 16.0), (15.0, 16.0),
                                                    (13.7, 16.0), (30.0, 16.0)])
def test_the_search_finds_the_capacity_within_its_resolution_in_its_budget(true_capacity, maximum):
    steps = capacity.search(model(true_capacity), maximum_rps=maximum, ceiling_rps=1000.0)
    assert len(steps) <= MAX_STEPS
    passed = [s.rate_rps for s in steps if s.passed]
    assert passed, f"no step passed: {steps}"
    found = max(passed)
    failed = [s.rate_rps for s in steps if not s.passed and s.rate_rps > found]
    assert found <= true_capacity
    if failed:  # bracketed: the answer is within the search's resolution, or its budget ran out
        assert (min(failed) - found) / found <= RESOLUTION or len(steps) == MAX_STEPS


def test_the_search_goes_down_when_its_first_step_fails():
    steps = capacity.search(model(8.0), maximum_rps=16.0, ceiling_rps=None)
    assert not steps[0].passed and any(s.passed for s in steps)
    assert max(s.rate_rps for s in steps if s.passed) <= 8.0


def test_the_search_never_asks_more_than_the_instrument_drives():
    steps = capacity.search(model(10_000), maximum_rps=5000.0, ceiling_rps=1200.0)
    assert max(s.rate_rps for s in steps) <= 1200.0
    found = Search("c", "io", Objective("p99", 500), 250, 5000.0, "the CPU",
                   "", 1200.0, steps)
    assert found.instrument_bound and found.verdict() == "instrument-bound"


@pytest.mark.parametrize("measured, verdict", [(16.4, "within"), (14.0, "within"),
                                               (13.0, "below"), (18.5, "above")])
def test_a_bounded_configuration_is_judged_against_its_maximum(measured, verdict):
    found = Search("gunicorn-sync", "io", Objective("p99", 500), 250, 16.0,
                   "the cap", "4 / 250 ms", 2000.0,
                   [Step(measured, True), Step(measured * 1.03, False, "p99 over")])
    assert found.verdict() == verdict, (measured, found.ratio, CAPACITY_TOLERANCE)
    assert Search.from_dict(found.to_dict()).to_dict() == found.to_dict()


def test_the_maximum_is_the_lower_of_the_cap_and_the_cpu():
    top, what, _ = capacity.maximum(SYNC, 250, 1.0, 1.5)
    assert (top, what) == (16.0, "the cap")
    top, what, _ = capacity.maximum(Capacity(4000, "4 x 1000", event_loop=True, parallelism=4),
                                    250, 1.0, 1.5)
    assert what == "the CPU" and top == pytest.approx(1000 / 1.5)
    assert capacity.maximum(Capacity(None, "no cap"), 250, 1.0, None)[0] is None


# --- the instrument's own limit ------------------------------------------------------------

def _raw(path, times):
    with gzip.open(path, "wt") as out:
        for t in times:
            stamp = f"2026-12-02T10:00:{t:012.9f}Z" if t < 60 else None
            out.write(json.dumps({"type": "Point", "metric": "lab_arrivals",
                                  "data": {"time": stamp, "value": 1}}) + "\n")
            out.write(json.dumps({"type": "Point", "metric": "http_reqs",
                                  "data": {"time": stamp, "value": 1}}) + "\n")


def test_evenly_spaced_arrivals_have_no_variation(tmp_path):
    _raw(tmp_path / "raw.gz", [i * 0.0625 for i in range(80)])
    stats = loadside.arrival_stats([tmp_path / "raw.gz"], 1.0, 4.5)
    assert stats["interarrival_cv"] < 0.01 and stats["interarrival_mean_ms"] == pytest.approx(62.5)


def test_poisson_arrivals_have_a_coefficient_of_variation_near_one(tmp_path):
    rng, t, times = random.Random(7), 0.0, []
    while t < 40:
        times.append(t)
        t += rng.expovariate(50.0)
    _raw(tmp_path / "raw.gz", times)
    stats = loadside.arrival_stats([tmp_path / "raw.gz"], 1.0, 39.0)
    assert math.isclose(stats["interarrival_cv"], 1.0, abs_tol=0.08), stats


def test_the_load_side_is_what_was_busy_beside_the_app():
    # Core 0 fully busy, the app on cores 0-1 using 1.6 CPUs: 0.8 of it on core 0.
    assert loadside.load_side_busy(1.0, frozenset({0}), frozenset({0, 1}), 1.6) == pytest.approx(0.2)
    # The app on core 1 only: all of core 0's busy time is the load side's.
    assert loadside.load_side_busy(0.9, frozenset({0}), frozenset({1}), 1.0) == pytest.approx(0.9)


def host_full_above(capacity_rps: float, host_rps: float):
    """A configuration with this capacity on a host whose load cores fill above
    ``host_rps``: those steps are refused, neither a pass nor a failure."""
    def measure(rate: float) -> Step:
        if rate > host_rps:
            return Step(rate, False, "the load side was full", refused=True)
        return Step(rate, rate <= capacity_rps, "" if rate <= capacity_rps else "p99 over")
    return measure


def test_a_refused_step_sends_the_search_down_to_where_the_host_can_tell():
    steps = capacity.search(host_full_above(300.0, 140.0), maximum_rps=330.0, ceiling_rps=None,
                            max_steps=3, growth=1.4)
    assert steps[0].refused and any(s.passed for s in steps), steps
    assert len(steps) <= 3 + capacity.MAX_REFUSED_EXTRA
    found = Search("c", "mix", Objective("p99", 300), 5.0, 330.0, "the CPU", "",
                   1300.0, steps)
    # What passed is a lower bound: the host, not the configuration, refused what is above.
    assert found.capacity_rps <= 140.0 and found.first_fail_rps is None
    assert found.instrument_bound and found.verdict() == "instrument-bound"


def test_a_search_the_host_refused_everywhere_measured_nothing():
    steps = capacity.search(host_full_above(300.0, 1.0), maximum_rps=330.0, ceiling_rps=None,
                            max_steps=3)
    assert all(s.refused for s in steps) and len(steps) == 3 + capacity.MAX_REFUSED_EXTRA
    found = Search("c", "mix", Objective("p99", 300), 5.0, 330.0, "the CPU", "",
                   1300.0, steps)
    assert found.capacity_rps is None and found.refused_only
    assert "host was full at every rate" in found.explain()


def test_a_real_failure_above_a_pass_is_not_turned_into_a_lower_bound():
    steps = capacity.search(host_full_above(100.0, 1000.0), maximum_rps=120.0, ceiling_rps=None)
    found = Search("c", "io", Objective("p99", 500), 250, 120.0, "the cap", "",
                   1300.0, steps)
    assert not any(s.refused for s in steps) and not found.instrument_bound


def test_a_refusal_above_a_pass_is_bisected_where_the_host_can_still_tell():
    # records/advise-notes: a pass at 309 req/s, the host full at 432; below 400 it could
    # tell, and the configuration held 424.5 in a sweep.
    steps = capacity.search(host_full_above(424.5, 400.0), maximum_rps=None, ceiling_rps=None,
                            start_rps=309.0, max_steps=6, growth=1.4)
    found = Search("c", "mix", Objective("p99", 400), 2.0, None, "the CPU", "", 1500.0, steps)
    rates = [round(s.rate_rps) for s in steps]
    assert steps[1].refused and len(steps) > 2, f"expected a look below the refused 433, got {rates}"
    assert found.capacity_rps > 309.0, f"expected more than the first pass found, got {rates}"
    assert found.instrument_bound, "the step above its capacity was refused: still a lower bound"
    # A failure found below the refusal makes the capacity exact.
    steps = capacity.search(host_full_above(350.0, 400.0), maximum_rps=None, ceiling_rps=None,
                            start_rps=309.0, max_steps=6, growth=1.4)
    found = Search("c", "mix", Objective("p99", 400), 2.0, None, "the CPU", "", 1500.0, steps)
    assert not found.instrument_bound and 309.0 < found.capacity_rps <= 350.0, \
        [(round(s.rate_rps), s.passed, s.refused) for s in steps]
