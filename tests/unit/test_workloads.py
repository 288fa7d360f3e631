"""Workload declarations: registry, expectation rules, figures and plans."""

import pytest

from support import SMALL_RUN
from wsgilab import workloads
from wsgilab.lab import compose
from wsgilab.model.facts import Facts
from wsgilab.model.levels import Variant
from wsgilab.model.load import Closed
from wsgilab.model.record import BenchRecord
from wsgilab.model.theory import Capacity
from wsgilab.workloads.base import PlanRequest
from wsgilab.workloads.mixed import GIL_HANDOFFS, LOOP_MIN_FRACTION, SWITCH_INTERVAL_MS

COMMON = {"throughput_rps", "latency_p50_ms", "latency_p95_ms", "little_inflight",
          "server_peak", "failures"}


def facts(cap, cpus=1.0, cpuset=1):
    return Facts(capacity=cap, settings={}, cpus=cpus, cpuset_cpus=cpuset,
                 memory_bytes=2**28, pids=256)


def test_the_registry_finds_every_workload_module():
    assert list(workloads.registry())[:3] == ["io", "cpu", "mixed"]
    with pytest.raises(KeyError, match="known: io, cpu, mixed"):
        workloads.get("nope")


@pytest.mark.parametrize("name", list(workloads.registry()))
def test_each_workload_declares_script_params_and_doc(name):
    w = workloads.get(name)
    assert w.script.endswith(".js") and w.classes and w.description
    assert all(p.env == p.env.upper() for p in w.params)
    import importlib
    assert importlib.import_module(f"wsgilab.workloads.{name}").__doc__


def test_figures_of_every_stored_level_include_the_common_ones():
    record = BenchRecord.load(SMALL_RUN)
    for entry in record.levels:
        w = workloads.get(entry.level.workload)
        figures = w.figures(entry.result, entry.usage, entry.level, entry.configuration.facts())
        assert COMMON <= set(figures), f"{entry.level.describe()}: {sorted(figures)}"
        # What the record stored is what the workload computes again (figures added since
        # the record was made are left out of the comparison).
        assert {k: figures[k] for k in entry.figures} == pytest.approx(entry.figures), (
            entry.level.describe())


def test_cpu_levels_check_throughput_against_the_cpu_bound_not_littles_law():
    cpu = workloads.get("cpu")
    checks = cpu.expect(facts(Capacity(4, "workers = 4", parallelism=4), cpus=0.5, cpuset=2),
                        cpu.level("gunicorn-sync", Closed(8)))
    assert [c.name for c in checks] == ["peak", "failures", "cpu_bound"]
    bound = next(c for c in checks if c.name == "cpu_bound")
    assert bound.figure == "cpu_bound_fraction" and bound.high > 1.0 > bound.low
    peak = next(c for c in checks if c.name == "peak")
    assert peak.low == peak.high == 4  # 8 VUs above 4 workers: exact


@pytest.mark.parametrize("busy, bound", [
    (None, 40.0),    # not measured (records before 2026-11-24): 2 CPUs / 50 ms
    (1.92, 37.0),    # the app used 1.77 of the cores' 1.92 busy: others 0.15
    (1.70, 40.0),    # never less than the container's own: others 0
])
def test_the_cpu_bound_leaves_out_what_others_ran_on_the_cores(busy, bound):
    from wsgilab.model.results import ClassResult, LevelResult
    cpu = workloads.get("cpu")
    level = cpu.level("gunicorn-sync", Closed(10))
    result = LevelResult(params={}, server_peak=4, requests=100, failures=0, classes={
        "cpu": ClassResult(window_s=4.0, completions=136, throughput_rps=34.0,
                           latency_mean_ms=10 / 34.0 * 1000, latency_p50_ms=290.0,
                           latency_p95_ms=300.0, latency_p99_ms=310.0, app_time_ms=100.0,
                           cpu_time_ms=50.0)})
    load = {"app_cpu_fraction": 1.77, "app_cores_busy_cpus": busy}
    figs = cpu.figures(result, load, level,
                       facts(Capacity(4, "workers = 4", parallelism=4), cpus=2.0, cpuset=2))
    assert figs["cpu_bound_rps"] == pytest.approx(bound)
    assert figs["cpu_bound_fraction"] == pytest.approx(34.0 / bound)


def test_a_client_bound_cpu_level_checks_its_peak_from_above_only():
    cpu = workloads.get("cpu")
    checks = cpu.expect(facts(Capacity(None, "a thread per connection", parallelism=1),
                              cpus=2.0, cpuset=2), cpu.level("flask-threaded", Closed(10)))
    peak = next(c for c in checks if c.name == "peak")
    assert (peak.low, peak.high) == (1, 10)


def test_threads_sharing_a_gil_are_checked_from_above_where_their_cap_binds():
    cpu = workloads.get("cpu")
    checks = cpu.expect(facts(Capacity(8, "workers x threads = 1 x 8", parallelism=1),
                              cpus=2.0, cpuset=2), cpu.level("gunicorn-gthread-1x8", Closed(10)))
    peak = next(c for c in checks if c.name == "peak")
    assert (peak.low, peak.high) == (1, 8), f"expected 1..8, got {peak.expected()}"


def test_mixed_expects_a_blocked_event_loop_and_unblocked_threads():
    mixed = workloads.get("mixed")
    level = mixed.level("x", Closed(4))
    cpu_ms = level.param("cpu_ms")
    loop = mixed.expect(facts(Capacity(1000, "", parallelism=1, event_loop=True)), level)
    blocked = next(c for c in loop if c.name == "io_blocked")
    assert blocked.low == LOOP_MIN_FRACTION * cpu_ms and blocked.high is None
    threads = mixed.expect(facts(Capacity(8, "", parallelism=1)), level)
    unblocked = next(c for c in threads if c.name == "io_unblocked")
    assert unblocked.high == GIL_HANDOFFS * SWITCH_INTERVAL_MS < blocked.low
    # Four gevent workers beside one CPU VU: no rule claims how many requests it hits.
    many = mixed.expect(facts(Capacity(4000, "", parallelism=4, event_loop=True)), level)
    assert {c.name for c in many} == {"peak", "failures"}


def test_plans_keep_to_the_selected_configurations(fake_compose):
    request = PlanRequest(services=("gunicorn-gevent",), vus=None, params={},
                          memory_bytes=2**28, roles=compose.roles())
    mixed = workloads.get("mixed").plan(request)
    assert {lv.configuration for lv in mixed} == {"gunicorn-gevent"}
    assert {lv.variant for lv in mixed} == {Variant(), Variant(knobs=(("workers", "1"),))}
    assert workloads.get("cpu").plan(request) == []


def test_sizing_levels_follow_the_rules_on_what_the_container_will_see(fake_compose):
    request = PlanRequest(services=("gunicorn-sync", "gunicorn-gthread"), vus=None,
                          params={}, memory_bytes=2**28, roles=compose.roles())
    cpu = workloads.get("cpu")
    sizing = [lv for lv in cpu.plan(request) if lv.variant.cpus == 0.5 and lv.variant.cpuset is None]
    import os
    workers = {dict(lv.variant.knobs).get("workers") for lv in sizing
               if lv.configuration == "gunicorn-sync"}
    assert workers == {str(2 * os.cpu_count() + 1), "1"}  # gunicorn's rule; Heroku's at 256 MiB
    assert {lv.workload for lv in sizing} == {"cpu", "io"}


def test_a_path_parameter_kept_relative_reaches_k6_absolute():
    """A record keeps the mix file relative to the repository; k6 reads a relative path
    from its script's folder, so it must be given the file's absolute path."""
    from support import ROOT
    from wsgilab.model.load import Closed as ClosedLoad
    from wsgilab.workloads import get as get_workload

    mix = get_workload("mix")
    level = mix.level("x", ClosedLoad(2), {"mix_file": "tests/unit/data/mix.json",
                                           "mix_service_ms": 5})
    env = mix.k6_env(level)
    assert env["MIX_FILE"] == str(ROOT / "tests" / "unit" / "data" / "mix.json"), env
    assert dict(level.params)["mix_file"] == "tests/unit/data/mix.json", "the record keeps it relative"
