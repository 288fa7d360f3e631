"""The generic rules: checks, expectations, the CPU-bound throughput bound."""

import pytest

from wsgilab.model.theory import (
    CLIENT_BOUND_MIN_FRACTION,
    CPU_BOUND_OVERSHOOT,
    CPU_BOUND_TOLERANCE,
    LITTLE_LAW_TOLERANCE,
    Capacity,
    Check,
    concurrency_checks,
    cpu_parallelism,
    cpu_throughput_check,
    expect,
)


def _problems(checks, **figures):
    return [p for c in checks if (p := c.problem(figures.get(c.figure)))]


def test_expectation_is_the_cap_when_vus_exceed_it():
    e = expect(Capacity(4, "workers = 4"), 10)
    assert (e.inflight, e.server_bound, e.min_peak) == (4, True, 4)


def test_expectation_is_the_vus_when_the_server_has_room():
    e = expect(Capacity(None, "no cap"), 40)
    assert (e.inflight, e.server_bound) == (40, False)
    assert e.min_peak == 36  # ceil(0.9 x 40)
    e = expect(Capacity(4, "workers = 4"), 4)
    assert (e.inflight, e.server_bound) == (4, False)


def test_an_exact_server_bound_run_passes():
    assert _problems(concurrency_checks(Capacity(4, ""), 10), server_peak=4,
                     little_inflight=3.9, failures=0) == []


@pytest.mark.parametrize("peak", [3, 5])
def test_the_peak_must_be_the_cap_exactly_when_it_binds(peak):
    problems = _problems(concurrency_checks(Capacity(4, ""), 10), server_peak=peak,
                         little_inflight=4.0, failures=0)
    assert len(problems) == 1 and f"expected exactly 4, measured {peak}" in problems[0]


def test_little_tolerance_applies_below_the_sustained_concurrency():
    checks = concurrency_checks(Capacity(4, ""), 10)
    low = 4 * (1 - LITTLE_LAW_TOLERANCE)
    assert _problems(checks, server_peak=4, little_inflight=low + 0.01, failures=0) == []
    assert "little" in _problems(checks, server_peak=4, little_inflight=low - 0.01, failures=0)[0]


def test_gthread_sustains_one_pool_in_the_little_range():
    checks = concurrency_checks(Capacity(8, "", sustained=4, sustained_rule="#3433"), 10)
    little = next(c for c in checks if c.name == "little")
    assert little.low == pytest.approx(4 * (1 - LITTLE_LAW_TOLERANCE))
    assert "#3433" in little.rule


def test_client_bound_needs_most_vus():
    checks = concurrency_checks(Capacity(None, ""), 40)
    assert _problems(checks, server_peak=36, little_inflight=40 * CLIENT_BOUND_MIN_FRACTION,
                     failures=0) == []
    (problem,) = _problems(checks, server_peak=35, little_inflight=39.0, failures=0)
    assert problem.startswith("peak: server_peak expected 36..40, measured 35")
    assert "CLIENT_BOUND_MIN_FRACTION" in problem


def test_failures_and_missing_figures_are_problems():
    checks = concurrency_checks(Capacity(1, ""), 2)
    assert "failures" in _problems(checks, server_peak=1, little_inflight=1.0, failures=3)[0]
    assert "was not measured" in Check("x", "y", 0, 1, "").problem(None)


@pytest.mark.parametrize("cap, quota, cpuset, usable", [
    (Capacity(4, "", parallelism=4), 0.5, 2, 0.5),   # the quota binds
    (Capacity(4, "", parallelism=4), 2.0, 2, 2.0),   # quota and cpuset: 2
    (Capacity(8, "", parallelism=1), 2.0, 2, 1.0),   # one process of threads: the GIL
    (Capacity(16, "", parallelism=16), 1.0, 1, 1.0),  # 16 workers, 1 CPU
    (Capacity(3, "", parallelism=3), None, 2, 2.0),  # no quota: the cpuset binds
])
def test_cpu_parallelism_is_the_least_of_processes_quota_and_cores(cap, quota, cpuset, usable):
    assert cpu_parallelism(cap, quota, cpuset)[0] == usable


@pytest.mark.parametrize("cap, quota, others, usable", [
    (Capacity(4, "", parallelism=4), 2.0, 0.15, 1.85),  # k6 and nginx on core 0 of 0-1
    (Capacity(4, "", parallelism=4), 0.5, 0.15, 0.5),   # the quota still binds
    (Capacity(8, "", parallelism=1), 2.0, 0.15, 1.0),   # so does the GIL
])
def test_what_others_ran_on_the_cores_is_not_the_containers(cap, quota, others, usable):
    got, formula = cpu_parallelism(cap, quota, 2, others)
    assert got == pytest.approx(usable) and "less others' 0.15" in formula


def test_cpu_throughput_check_bounds_x_over_the_cpu_bound():
    check = cpu_throughput_check(Capacity(4, "", parallelism=4), 8, 50, 0.5, 2)
    assert (check.name, check.figure) == ("cpu_bound", "cpu_bound_fraction")
    assert check.low == pytest.approx(1 - CPU_BOUND_TOLERANCE)
    assert check.high == pytest.approx(1 + CPU_BOUND_OVERSHOOT)
    assert check.problem(0.95) is None and check.problem(0.7) and check.problem(1.1)
    assert "quota 0.50" in check.rule and "VUs 8" in check.rule


def test_a_forking_server_is_checked_on_the_cpu_it_keeps_busy():
    check = cpu_throughput_check(Capacity(3, "", parallelism=3, forks_per_request=True),
                                 8, 50, 2.0, 2)
    assert (check.name, check.figure) == ("cpu_busy", "cpu_utilisation")
    assert check.low == pytest.approx(1 - CPU_BOUND_TOLERANCE)
    assert check.problem(0.9) is None and "cpu_utilisation" in check.problem(0.7)
