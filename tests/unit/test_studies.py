"""Each study's loop, run end to end against a fake engine, probe and measurer
(``fakes``): no Docker, no k6, no network, no sleep.

What every loop must do: run what its plan says in the order it says, change each
container once per variant and put the lab back as declared on every way out, keep going
past a configuration that cannot serve, and save a record that says what was gathered and
how the run ended.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest

from fakes import FRONT_END_CPUSET, SERVER_CPU_MS, SLICE_US, FakeEngine, FakeMeasurer, FakeProbe
from support import ROOT
from wsgilab import workloads
from wsgilab.lab import compose, k6, loadside, pythons
from wsgilab.lab import run as run_module
from wsgilab.lab.engine import EngineError
from wsgilab.model import app as declaration
from wsgilab.model import interpreters
from wsgilab.model.capacity import CAPACITY_TOLERANCE
from wsgilab.model.levels import Level, Variant
from wsgilab.model.load import Closed
from wsgilab.model.record import ERROR, PASS, BenchRecord
from wsgilab.studies import bench, capacity, faults, options
from wsgilab.studies import python as python_study
from wsgilab.studies.advise import runner as advise_runner
from wsgilab.studies.faults.base import Context, Scenario

SYNC, GEVENT, GTHREAD, ONE_BY_EIGHT = ("gunicorn-sync", "gunicorn-gevent", "gunicorn-gthread",
                                       "gunicorn-gthread-1x8")
IO, CPU, DB = workloads.get("io"), workloads.get("cpu"), workloads.get("db")
HALF_CPU = Variant(cpus=0.5)
ONE_BY_EIGHT_KNOBS = Variant(knobs=(("threads", "8"), ("workers", "1")))
CALIBRATION = loadside.Calibration(max_rps=2000.0, load_cores_busy=0.6,
                                   measured="2026-12-01T00:00:00+00:00")


@pytest.fixture
def lab(fake_compose, monkeypatch):
    """The host side of a run, faked: ``lab.run_args()`` are what a study passes to its
    ``Run``; what the run asked of the host is recorded on ``lab``."""
    engine = FakeEngine(fake_compose)
    probe = FakeProbe(engine)
    lab = SimpleNamespace(engine=engine, probe=probe, measurer=FakeMeasurer(engine, probe),
                          lines=[], calibrations=[], prepared=[], slept=[])

    def run_args(stop_at: int | None = None) -> dict:
        if stop_at is not None:
            lab.measurer = FakeMeasurer(engine, probe, stop_at=stop_at)
        return {"engine": engine, "probe": probe, "measurer": lab.measurer}

    def calibrate(results_dir, base_url, load_cpus, out=print):
        lab.calibrations.append((results_dir, base_url, load_cpus))
        return CALIBRATION

    lab.run_args, lab.out = run_args, lab.lines.append
    # The front end and the base image come from the compose model the fake leaves out.
    for module in (run_module, bench, capacity, faults, advise_runner):
        monkeypatch.setattr(module, "front_end_cpuset", lambda: FRONT_END_CPUSET)
        monkeypatch.setattr(module, "base_image", lambda: "python:3.11-slim-bookworm")
    monkeypatch.setattr(k6, "version", lambda: "k6 v1.1.0 (fake)")
    monkeypatch.setattr(loadside, "calibrate", calibrate)
    monkeypatch.setattr(pythons, "prepare", lambda names, out=print: lab.prepared.append(list(names)))
    monkeypatch.setattr(pythons, "staged_facts",
                        lambda interp: {"interpreter": interp.to_dict(), "installed": {}})
    monkeypatch.setattr(time, "sleep", lab.slept.append)
    return lab


def bench_options(tmp_path, plan: list[Level], **kwargs) -> options.BenchOptions:
    return options.BenchOptions(
        workloads=tuple(dict.fromkeys(lv.workload for lv in plan)),
        services=tuple(dict.fromkeys(lv.configuration for lv in plan)),
        results_dir=tmp_path / "run", plan=tuple(plan), seed=1, **kwargs)


def describe(levels) -> list[str]:
    return [lv.describe() for lv in levels]


def problems(record: BenchRecord) -> dict[str, list[str]]:
    return {lv.level.describe(): lv.problems for lv in record.levels if lv.status != PASS}


def assert_put_back(engine: FakeEngine) -> None:
    assert engine.drift() == {}, f"expected the lab back as declared, found {engine.drift()}"


# --- bench --------------------------------------------------------------------------------

#: A plan whose levels of one configuration and variant are apart: the bench groups them.
MIXED_PLAN = [
    IO.level(SYNC, Closed(10)),
    IO.level(GEVENT, Closed(10)),
    CPU.level(SYNC, Closed(10), {}, HALF_CPU),
    CPU.level(SYNC, Closed(10)),
    IO.level(SYNC, Closed(10), {}, HALF_CPU),
    IO.level(GTHREAD, Closed(16), {}, ONE_BY_EIGHT_KNOBS),
    DB.level(GEVENT, Closed(24), {"connections": "pool"}),
]


def test_bench_runs_every_level_grouped_each_variant_applied_once_and_the_lab_put_back(lab, tmp_path):
    plan = bench.grouped(tuple(MIXED_PLAN))
    assert plan != MIXED_PLAN, "the plan must need grouping for this test to mean anything"

    record = bench.run(bench_options(tmp_path, MIXED_PLAN), lab.out, **lab.run_args())

    assert describe(lab.measurer.levels) == describe(plan), (
        f"expected the levels in grouped order {describe(plan)}, measured "
        f"{describe(lab.measurer.levels)}")
    saved = BenchRecord.load(tmp_path / "run")
    assert saved.status == "complete", f"expected status complete, saved {saved.status!r}"
    assert [lv.level for lv in saved.levels] == plan, (
        f"expected one saved level per planned level ({len(plan)}), saved {len(saved.levels)}")
    assert saved.options["kind"] == "bench" and saved.options["levels"] == len(plan)
    assert saved.environment["k6"] == "k6 v1.1.0 (fake)" and saved.environment["docker_engine"] == "fake"
    assert problems(record) == {}, f"expected every level of an ideal server to pass: {problems(record)}"
    # Each variant applied once, as its level declares it; the undo all at once at the end.
    engine = lab.engine
    applied = [(services, env) for services, env in engine.recreations() if env]
    expected = [((SYNC,), HALF_CPU.env(SYNC)), ((GTHREAD,), ONE_BY_EIGHT_KNOBS.env(GTHREAD))]
    assert applied == expected, f"expected one recreation per variant {expected}, engine got {applied}"
    assert engine.recreations()[-1] == ((GTHREAD, SYNC), {}), (
        f"expected the variants put back as declared last, engine got {engine.recreations()[-1]}")
    assert "back as declared: gunicorn-gthread, gunicorn-sync" in saved.environment["restored"]
    assert_put_back(engine)
    # Each level on the container its variant declares; a CPU level with its cores to itself.
    for level, state in zip(lab.measurer.levels, lab.measurer.states, strict=True):
        declared = engine.declared(level.configuration, level.variant.env(level.configuration))
        assert state.differences(declared) == {}, (
            f"{level.describe()}: measured on {state}, expected {declared}")
    others = len(engine.configurations()) - 1
    for entry in saved.find(workload="cpu"):
        moved = entry.usage["others_moved_off_its_cores"]
        assert moved == others, (f"{entry.level.describe()}: expected the {others} other "
                                 f"configurations off its cores, {moved} were")
    # A pooled level's connections are dropped before anything else needs the database.
    assert ("restart", GEVENT) in engine.calls, "expected gunicorn-gevent restarted after its pooled level"
    assert lab.slept == [], f"the loop slept for real: {lab.slept}"
    assert (tmp_path / "latest").resolve() == (tmp_path / "run").resolve()


def test_a_configuration_that_cannot_serve_becomes_error_entries_and_the_bench_goes_on(lab, tmp_path):
    plan = [IO.level(SYNC, Closed(10)), IO.level(SYNC, Closed(10), {}, HALF_CPU),
            CPU.level(SYNC, Closed(10), {}, HALF_CPU), IO.level(GEVENT, Closed(10))]
    lab.engine.unhealthy.add((SYNC, tuple(sorted(HALF_CPU.env(SYNC).items()))))

    record = bench.run(bench_options(tmp_path, plan), lab.out, **lab.run_args())

    statuses = [(lv.level.describe(), lv.status) for lv in record.levels]
    expected = [(plan[0].describe(), PASS), (plan[1].describe(), ERROR),
                (plan[2].describe(), ERROR), (plan[3].describe(), PASS)]
    assert statuses == expected, f"expected {expected}, recorded {statuses}"
    for entry in record.levels[1:3]:
        assert entry.problems and entry.problems[0].startswith("NotServing: ComposeError"), entry.problems
    assert BenchRecord.load(tmp_path / "run").status == "complete"
    tried = [r for r in lab.engine.recreations() if r == ((SYNC,), HALF_CPU.env(SYNC))]
    assert len(tried) == 1, f"expected the failing variant tried once, it was tried {len(tried)} times"
    assert sum("cannot be measured" in line for line in lab.lines) == 1, "expected it said once"
    assert_put_back(lab.engine)


def test_a_variant_that_did_not_come_up_does_not_leave_its_configuration_unmeasurable(lab, tmp_path):
    # Repeat 2 comes back to the configuration as declared after its variant failed to
    # start in repeat 1: it must be put back as declared and measured, not read from
    # before the failure.
    base = [IO.level(SYNC, Closed(10)), IO.level(SYNC, Closed(10), {}, HALF_CPU)]
    plan = options.repeated(base, 2, seed=1)
    lab.engine.unhealthy.add((SYNC, tuple(sorted(HALF_CPU.env(SYNC).items()))))

    record = bench.run(bench_options(tmp_path, plan, repeat=2), lab.out, **lab.run_args())

    statuses = [(lv.level.describe(), lv.status) for lv in record.levels]
    expected = [(lv.describe(), ERROR if lv.variant else PASS) for lv in plan]
    assert statuses == expected, (f"expected {expected}, recorded {statuses}: "
                                  f"{[lv.problems for lv in record.levels]}")
    assert_put_back(lab.engine)


def test_ctrl_c_mid_bench_saves_what_was_gathered_and_puts_the_lab_back(lab, tmp_path):
    plan = [IO.level(SYNC, Closed(10)), CPU.level(SYNC, Closed(10), {}, HALF_CPU),
            IO.level(SYNC, Closed(10), {}, HALF_CPU), IO.level(GEVENT, Closed(10))]

    with pytest.raises(KeyboardInterrupt):
        bench.run(bench_options(tmp_path, plan), lab.out, **lab.run_args(stop_at=3))

    saved = BenchRecord.load(tmp_path / "run")
    assert saved.status == "interrupted (SIGINT)", f"expected interrupted (SIGINT), saved {saved.status!r}"
    assert [lv.level for lv in saved.levels] == plan[:2], (
        f"expected the 2 levels measured before Ctrl-C saved, saved "
        f"{describe(lv.level for lv in saved.levels)}")
    assert saved.finished is not None
    engine = lab.engine
    assert engine.recreations()[-1] == ((SYNC,), {}), (
        f"expected gunicorn-sync recreated as declared on the way out, engine got {engine.recreations()[-1]}")
    moved_back = [c for c in engine.calls if c[0] == "cpuset" and c[2] != FRONT_END_CPUSET]
    assert len(moved_back) == len(engine.configurations()) - 1, (
        f"expected the {len(engine.configurations()) - 1} configurations the CPU level moved put "
        f"back on their cores, {len(moved_back)} were")
    assert saved.environment["restored"], "expected the record to say what was put back"
    assert_put_back(engine)


# --- capacity -----------------------------------------------------------------------------

def test_capacity_calibrates_once_and_records_an_overhead_and_a_search_per_configuration(lab, tmp_path):
    services = (SYNC, GEVENT, ONE_BY_EIGHT)
    lab.probe.unreachable.add(GEVENT)
    opts = options.BenchOptions(workloads=("io",), services=services, results_dir=tmp_path / "run",
                                raw=False, seed=1)

    record = capacity.run(opts, lab.out, **lab.run_args())

    assert len(lab.calibrations) == 1, f"expected one calibration, ran {len(lab.calibrations)}"
    assert record.load_side == CALIBRATION.to_dict()
    assert loadside.last_calibration() == CALIBRATION, "expected the calibration kept for the options"
    saved = BenchRecord.load(tmp_path / "run")
    assert saved.status == "complete", f"expected status complete, saved {saved.status!r}"
    assert [o["configuration"] for o in saved.overheads] == [SYNC, ONE_BY_EIGHT]
    for overhead in saved.overheads:
        assert overhead["cpu_ms_per_request"] == pytest.approx(SERVER_CPU_MS), (
            f"{overhead['configuration']}: expected {SERVER_CPU_MS} ms of CPU per request, "
            f"recorded {overhead['cpu_ms_per_request']}")
    assert [c["configuration"] for c in saved.capacities] == list(services)
    failed = saved.capacities[1]
    assert failed["error"].startswith("ConnectionError"), f"expected why it could not be measured: {failed}"
    for search, cap in zip((saved.capacities[0], saved.capacities[2]), (4, 8), strict=True):
        maximum = cap / 0.25
        assert search["maximum_rps"] == pytest.approx(maximum), search["maximum_rule"]
        assert search["verdict"] == "within", (
            f"{search['configuration']}: expected a capacity within {CAPACITY_TOLERANCE:.0%} of "
            f"{maximum} req/s, found {search['capacity_rps']} ({search['verdict']})")
        best = max((s for s in search["steps"] if s["passed"]), key=lambda s: s["rate_rps"])
        assert search["capacity_rps"] == best["throughput_rps"] < best["rate_rps"], (
            f"expected what was served at the highest pass ({best['throughput_rps']} req/s) "
            f"published, not the rate asked ({best['rate_rps']}); got {search['capacity_rps']}")
    slugs = [lv.level.slug for lv in saved.levels]
    steps = [s["slug"] for c in saved.capacities for s in c.get("steps", ())]
    assert len(slugs) == len(saved.overheads) + len(steps) and set(steps) <= set(slugs), (
        f"expected every overhead level and search step among the levels, levels {slugs}")
    assert_put_back(lab.engine)


# --- faults -------------------------------------------------------------------------------

@pytest.fixture
def nginx(monkeypatch):
    """What the front end answers a scenario's own requests (``Context.get``): a request
    past gunicorn's timeout is aborted (500), every other one served."""
    asked = []

    def get(ctx, path, timeout_s=10.0):
        asked.append(path)
        if "ms=8000" in path:
            return 500, {"error": "Internal Server Error"}, 3.2
        return 200, {"slept_ms": 1}, 0.01

    monkeypatch.setattr(Context, "get", get)
    return asked


def test_faults_record_each_scenarios_outcomes_and_put_each_back(lab, tmp_path, nginx):
    lab.engine.service_logs[SYNC] = "[CRITICAL] WORKER TIMEOUT (pid:101)\n"

    record = faults.run(["timeout", "ceiling"], tmp_path / "faults", light=True, out=lab.out,
                        **lab.run_args())

    assert list(record.scenarios) == ["timeout", "ceiling"], list(record.scenarios)
    saved = BenchRecord.load(tmp_path / "faults")
    assert saved.status == "complete" and saved.scenarios == record.scenarios
    for name, entry in saved.scenarios.items():
        assert "error" not in entry, f"{name}: {entry.get('error')}"
        failed = {o["configuration"]: o["problems"] for o in entry["outcomes"] if not o["passed"]}
        assert failed == {}, f"{name}: expected every outcome to pass, {failed}"
    (timeout,) = saved.scenarios["timeout"]["outcomes"]
    assert timeout["configuration"] == SYNC and timeout["figures"]["status"] == 500
    assert timeout["figures"]["worker_timeout_logged"] == 1
    (ceiling,) = saved.scenarios["ceiling"]["outcomes"]
    assert ceiling["figures"]["held"] == 150 and [s["vus"] for s in ceiling["figures"]["steps"]] == [50, 150]
    assert saved.levels == [], "a scenario's levels are its evidence, not the run's levels"
    # The timeout's variant applied once, and put back before the next scenario ran.
    knob = Variant(knobs=(("timeout", "3"),)).env(SYNC)
    applied = [r for r in lab.engine.recreations() if r[1]]
    assert applied == [((SYNC,), knob)], f"expected one recreation with {knob}, engine got {applied}"
    assert lab.measurer.drifts == [{}, {}], (
        f"expected the ceiling's levels on a lab back as declared, found {lab.measurer.drifts}")
    assert_put_back(lab.engine)


def test_a_scenario_that_fails_is_recorded_with_its_error_and_the_next_still_runs(lab, tmp_path,
                                                                                 nginx, monkeypatch):
    unstartable = Variant(memory="64M")
    lab.engine.unhealthy.add((SYNC, tuple(sorted(unstartable.env(SYNC).items()))))

    def run(ctx):
        ctx.apply(ctx.configuration("sync-workers"), unstartable)
        pytest.fail("a configuration that did not come up was measured")

    known = faults.registry()
    monkeypatch.setattr(faults, "registry", lambda: {
        **known, "unstartable": Scenario("unstartable", "a variant that never starts", "", run)})

    record = faults.run(["unstartable", "timeout"], tmp_path / "faults", light=True, out=lab.out,
                        **lab.run_args())

    failed = record.scenarios["unstartable"]
    assert "outcomes" not in failed and failed["error"].startswith("NotServing: ComposeError"), failed
    (timeout,) = record.scenarios["timeout"]["outcomes"]
    assert timeout["passed"], f"expected the next scenario to run and pass: {timeout['problems']}"
    recreations = [r for r in lab.engine.recreations() if r[0] == (SYNC,)]
    expected = [((SYNC,), unstartable.env(SYNC)), ((SYNC,), {}),
                ((SYNC,), Variant(knobs=(("timeout", "3"),)).env(SYNC)), ((SYNC,), {})]
    assert recreations == expected, (
        f"expected each scenario's variant put back before the next, engine got {recreations}")
    assert BenchRecord.load(tmp_path / "faults").status == "complete"
    assert_put_back(lab.engine)


# --- python -------------------------------------------------------------------------------

def test_python_runs_its_plan_through_bench_and_records_single_thread_costs(lab, tmp_path):
    names = python_study.DEFAULT_PYTHONS
    levels = python_study.plan(compose.roles(), names)
    opts = replace(bench_options(tmp_path, levels), results_dir=tmp_path / "python")

    record = python_study.run(opts, names, lab.out, **lab.run_args())

    saved = BenchRecord.load(tmp_path / "python")
    assert saved.options["kind"] == "python" and saved.status == "complete", (saved.options, saved.status)
    assert describe(lab.measurer.levels) == describe(bench.grouped(tuple(levels)))
    assert len(saved.levels) == len(levels), f"expected {len(levels)} levels, saved {len(saved.levels)}"
    assert problems(record) == {}, f"expected every level of an ideal server to pass: {problems(record)}"
    assert lab.prepared == [["3.13", "3.13t"]], (
        f"expected the two built Pythons prepared once, before any level: {lab.prepared}")
    for entry in saved.levels:
        python = entry.level.variant.python or interpreters.DEFAULT
        version = entry.configuration.runtime["python"]["version"]
        assert version.startswith(python.rstrip("t") + "."), f"{entry.level.describe()} ran {version}"
        if interpreters.get(python).free_threaded:
            assert entry.figures["gil_enabled_processes"] == 0, entry.level.describe()
    one_process = {lv.level.variant.python: lv.configuration.capacity.parallelism
                   for lv in saved.find(configuration=ONE_BY_EIGHT, workload="cpu")}
    assert one_process == {None: 1, "3.13": 1, "3.13t": 8}, (
        f"expected one gthread process of 8 threads to run 8 at once only without the GIL: {one_process}")
    # The single-thread cost: interleaved rounds, once the lab is back as declared.
    runs = [c for c in lab.engine.calls if c[0] == "run_once"]
    images = [interpreters.get(n).app_image for n in names]
    assert [c[1] for c in runs] == images * python_study.SINGLE_THREAD_ROUNDS, [c[1] for c in runs]
    assert all(c[2] == python_study.SINGLE_THREAD_CPUSET and c[3] for c in runs), (
        f"expected every run on core {python_study.SINGLE_THREAD_CPUSET} of a lab as declared: {runs}")
    for name, image in zip(names, images, strict=True):
        cost = saved.pythons[name]["single_thread"]
        assert cost["slice_us"] == SLICE_US[image], (
            f"{name}: expected the least run {SLICE_US[image]} us, recorded {cost['slice_us']}")
        assert len(cost["runs_us"]) == python_study.SINGLE_THREAD_ROUNDS * python_study.SINGLE_THREAD_RUNS


def test_python_without_single_thread_costs_still_saves_its_levels(lab, tmp_path, monkeypatch):
    levels = python_study.plan(compose.roles(), (), light=True)
    opts = bench_options(tmp_path, levels)

    def no_image(*args, **kwargs):
        raise EngineError("wsgi-lab/app-demo:py3.13t: no such image")

    monkeypatch.setattr(lab.engine, "run_once", no_image)
    record = python_study.run(opts, (python_study.LIGHT_PYTHON,), lab.out, **lab.run_args())

    assert [lv.status for lv in record.levels] == [PASS], problems(record)
    assert "single_thread" not in record.pythons[python_study.LIGHT_PYTHON]
    assert any("single-thread cost not measured" in line for line in lab.lines), lab.lines
    assert BenchRecord.load(tmp_path / "run").status == "complete"


# --- every study takes the run's fakes ----------------------------------------------------

def test_advise_runs_on_the_engine_and_probe_it_is_given(lab, tmp_path):
    ns = argparse.Namespace(results_dir=tmp_path / "advise", load_cpus="0", light=True, only=None)
    spec = declaration.load(ROOT / "examples" / "shop")

    advise = advise_runner.Advise(spec, ns, lab.out, **lab.run_args())

    assert advise.run.engine is lab.engine and advise.run.probe is lab.probe, (
        f"expected the run on the fakes given, got {advise.run.engine} and {advise.run.probe}")
