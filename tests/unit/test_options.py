"""Bad bench options stop with a clear message before any load starts; good ones give the
plan the issue asks for."""

import math
import re

import pytest

from support import ROOT
from wsgilab.lab.measure import MAX_GRACEFUL_STOP_S
from wsgilab.model.levels import Variant
from wsgilab.model.load import Closed
from wsgilab.studies import bench, options
from wsgilab.studies.options import MAX_VUS, OptionError
from wsgilab.verdicts import claims


@pytest.fixture(autouse=True)
def model(fake_compose):
    return fake_compose


def parse(argv, tmp_path):
    return options.parse(argv + ["--results", str(tmp_path / "r")])


def test_defaults_run_every_workload_over_every_configuration(tmp_path, model):
    opts = parse([], tmp_path)
    assert opts.workloads == ("io", "cpu", "mixed", "db", "upstream")
    io = [lv for lv in opts.plan if lv.workload == "io" and not lv.variant]
    assert {lv.configuration for lv in io} == set(model.configurations())
    assert {lv.workload for lv in opts.plan} == set(opts.workloads)


def test_the_matrix_runs_every_driver_and_client_for_each_configuration(tmp_path, model):
    opts = parse(["--workloads", "db,upstream", "--matrix", "--services",
                  "gunicorn-sync,waitress"], tmp_path)
    db = {(lv.configuration, lv.param("driver"), lv.param("connections"))
          for lv in opts.plan if lv.workload == "db"}
    assert len(db) == 2 * (4 + 1)
    clients = {(lv.configuration, lv.param("client")) for lv in opts.plan if lv.workload == "upstream"}
    assert clients == {(s, c) for s in ("gunicorn-sync", "waitress") for c in ("requests", "pycurl")}


def test_a_fixed_axis_keeps_only_its_cases(tmp_path):
    opts = parse(["--workloads", "db", "--param", "driver=pg8000"], tmp_path)
    assert {lv.param("driver") for lv in opts.plan} == {"pg8000"}


def test_the_cpu_plan_covers_the_issue_points(tmp_path):
    cpu = [lv for lv in parse(["--workloads", "cpu"], tmp_path).plan if lv.workload == "cpu"]
    sync_quotas = {lv.variant.cpus for lv in cpu
                   if lv.configuration == "gunicorn-sync" and lv.variant.cpuset == "0-1"}
    assert sync_quotas == {0.5, 1.0, 2.0}
    sweep = sorted(int(dict(lv.variant.knobs)["workers"]) for lv in cpu
                   if lv.configuration == "gunicorn-sync" and lv.variant.cpus == 1.0
                   and lv.variant.knobs)
    assert sweep == [1, 2, 4, 8, 12, 16]
    gil = {lv.configuration for lv in cpu if lv.variant == Variant(cpus=2.0, cpuset="0-1")}
    assert {"gunicorn-gthread-1x8", "flask-threaded", "flask-processes", "gunicorn-sync"} <= gil


def test_services_and_vus_narrow_the_plan(tmp_path):
    opts = parse(["--services", "gunicorn-sync", "--workloads", "io", "--vus", "3,7"], tmp_path)
    assert [(lv.configuration, lv.vus) for lv in opts.plan] == [
        ("gunicorn-sync", 3), ("gunicorn-sync", 7)]


def test_params_reach_the_levels_of_their_workload(tmp_path):
    opts = parse(["--workloads", "io", "--services", "gunicorn-sync", "--param", "io_ms=100"],
                 tmp_path)
    assert {lv.param("io_ms") for lv in opts.plan} == {100}


def test_the_run_limits_are_parsed_and_kept(tmp_path):
    opts = parse(["--workloads", "io", "--services", "gunicorn-sync",
                  "--limits", "cpus=0.5,memory=512M,pids=128"], tmp_path)
    assert opts.limits == Variant(cpus=0.5, memory="512M", pids=128)


@pytest.mark.parametrize("argv, message", [
    (["--services", "uwsgi-nope"], "unknown configuration"),
    (["--services", "flask-dev,flask-dev"], "named twice"),
    (["--workloads", "nope"], "unknown workload"),
    (["--vus", "0"], "between 1 and"),
    (["--vus", f"{MAX_VUS + 1}"], "between 1 and"),
    (["--duration", "1"], "--duration"),
    (["--duration", "5", "--warmup", "5"], "--warmup"),
    (["--param", "io_ms=-1"], "io_ms must be"),
    (["--rates", "0"], "invalid command line"),
    (["--rates", "fast"], "invalid command line"),
    (["--slo", "p90=1s"], "--slo takes"),
    (["--arrivals", "bursty"], "invalid command line"),
    (["--services", "gunicorn-gevent", "--workloads", "io", "--rates", "5000"],
     "needs 5001 VUs"),
    (["--param", "io_ms"], "NAME=VALUE"),
    (["--param", "nope=3"], "no selected workload"),
    (["--base-url", "http://10.0.0.1:8080"], "loopback"),
    (["--base-url", "http://localhost:8080"], "loopback"),
    (["--load-cpus", "999"], "--load-cpus"),
    (["--vus", "two"], "invalid command line"),
    (["--limits", "cpus=lots"], "--limits"),
    (["--limits", "memory=512"], "memory must be a whole number with K, M or G"),
    (["--limits", "swap=1G"], "--limits takes"),
    (["--limits", "cpus=64"], "more than this host's"),
    (["--limits", "cpuset=0-63"], "cores this host"),
    (["--limits", "memory=48M"], "too small for"),
    (["--limits", "pids=20"], "pids limit (20) leaves no room"),
    (["--services", "flask-threaded", "--workloads", "io", "--vus", "300"],
     "pids limit (256) leaves no room for the 333 tasks"),
])
def test_bad_options_are_refused(argv, message, tmp_path):
    with pytest.raises(OptionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(argv, tmp_path)


def test_a_memory_limit_is_checked_against_each_configurations_processes(tmp_path):
    # 4 gevent workers + the arbiter need more than 1 dev-server process.
    parse(["--services", "flask-dev", "--workloads", "io", "--limits", "memory=64M"], tmp_path)
    with pytest.raises(OptionError, match="5 server processes"):
        parse(["--services", "gunicorn-gevent", "--workloads", "io", "--limits", "memory=64M"],
              tmp_path)


def test_a_knob_the_command_does_not_read_is_refused(tmp_path, monkeypatch):
    from wsgilab.workloads import io

    plan = io.WORKLOAD.level("flask-dev", Closed(4), {}, Variant(knobs=(("workers", "8"),)))
    opts = options.BenchOptions(workloads=("io",), services=("flask-dev",))
    with pytest.raises(OptionError, match=r"does not read \$\{FLASK_DEV_WORKERS\}"):
        options.validate_level(plan, opts)


def test_greenlets_need_no_task_per_vu(tmp_path):
    opts = parse(["--services", "gunicorn-gevent", "--workloads", "io", "--vus", "1000"], tmp_path)
    assert opts.plan[0].vus == 1000


def test_existing_results_are_never_overwritten(tmp_path):
    (tmp_path / "bench.json").write_text("{}")
    with pytest.raises(OptionError, match="not empty"):
        options.parse(["--results", str(tmp_path)])


def test_graceful_stop_covers_a_full_queue_on_a_one_at_a_time_server(tmp_path):
    opts = parse(["--services", "flask-dev", "--workloads", "io", "--vus", "40"], tmp_path)
    assert opts.pace.graceful_stop_s(opts.plan[0]) >= 40 * 0.250


def test_graceful_stop_is_bounded_by_what_k6_accepts(tmp_path):
    opts = parse(["--services", "gunicorn-gevent", "--workloads", "io", "--vus", str(options.MAX_VUS),
                  "--param", "io_ms=2000"], tmp_path)
    stop = opts.pace.graceful_stop_s(opts.plan[0])
    lab_js = (ROOT / "k6" / "lib" / "lab.js").read_text()
    k6_max = int(re.search(r"intEnv\('GRACEFUL_STOP_S', \d+, 0, (\d+)\)", lab_js).group(1))
    assert stop == MAX_GRACEFUL_STOP_S <= k6_max, (
        f"expected {MAX_GRACEFUL_STOP_S} s (k6 accepts up to {k6_max}), got {stop}")


def test_rates_give_open_levels_sized_from_the_objective(tmp_path):
    from wsgilab.model.load import LOAD_SIDE_STALL_S, POISSON, Open, tick_rate

    opts = parse(["--services", "gunicorn-sync", "--workloads", "io", "--vus", "40",
                  "--rates", "8,16.5", "--slo", "p99=1s", "--arrivals", "poisson"], tmp_path)
    loads = [lv.load for lv in opts.plan]
    # 1 s objective x 2 (OPEN_VUS_HEADROOM) x the rate, and one more; and, for Poisson
    # arrivals, the thinning's empty ticks over LOAD_SIDE_STALL_S.
    ticks = [math.ceil((tick_rate(r, POISSON) - r) * LOAD_SIDE_STALL_S) for r in (8.0, 16.5)]
    assert loads == [Closed(40), Open(8.0, 17 + ticks[0], "poisson"),
                     Open(16.5, 34 + ticks[1], "poisson")]
    assert opts.to_dict()["objective"]["bound_ms"] == 1000.0


def test_the_default_objective_is_twice_each_workloads_service_time(tmp_path):
    opts = parse(["--services", "gunicorn-sync", "--workloads", "io", "--rates", "10",
                  "--param", "io_ms=100"], tmp_path)
    assert opts.plan[0].load.vus == 10 * 2 * 0.2 + 1  # 10 req/s x 200 ms x 2 + 1


def test_a_rate_past_what_the_load_side_drives_is_refused(tmp_path):
    from wsgilab.lab import loadside

    loadside.keep(loadside.Calibration(1800.0, 0.99, "2026-12-02T07:36:31+00:00"))
    parse(["--services", "gunicorn-gevent", "--workloads", "io", "--rates", "600"], tmp_path)
    with pytest.raises(OptionError, match=r"--rates 1900 req/s: more than this machine's load "
                                          r"side drives through nginx \(1800 req/s"):
        parse(["--services", "gunicorn-gevent", "--workloads", "io", "--rates", "600,1900"],
              tmp_path)


def test_a_level_a_claim_is_close_on_runs_three_times_interleaved(tmp_path):
    close = claims.close_levels()
    assert ("gthread-workers", "io") in close and {6, 8} <= set(close[("gthread-workers", "io")])
    plan = list(bench.grouped(parse([], tmp_path).plan))
    at = [i for i, lv in enumerate(plan)
          if lv.configuration == "gunicorn-gthread" and lv.workload == "io" and not lv.variant]
    assert [plan[i].repeat for i in at] == list(range(1, options.CLOSE_REPEATS + 1)), \
        [plan[i].describe() for i in at]
    assert all(b - a > 1 for a, b in zip(at, at[1:], strict=False)), \
        f"expected the repeats interleaved with other levels, found them at {at}"
    once = [lv for lv in plan if lv.configuration == "gunicorn-sync" and lv.workload == "io"
            and not lv.variant]
    assert [lv.repeat for lv in once] == [1], "a level no claim is close on runs once"
    repeated = parse(["--repeat", "2", "--services", "gunicorn-gthread", "--workloads", "io"],
                     tmp_path / "b").plan
    assert sorted(lv.repeat for lv in repeated if not lv.variant) == [1, 2], \
        "--repeat repeats everything the same number of times"
