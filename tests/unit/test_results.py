"""Reading k6 summaries written by k6/lib/lab.js (tests/data holds real ones)."""

import json

import pytest

from support import SMALL_RUN
from wsgilab.model.results import LOAD_FAILED, LOAD_REQUESTS, SummaryError, read_summary

IO = SMALL_RUN / "gunicorn-gevent" / "io-vus-004.summary.json"
MIXED = SMALL_RUN / "gunicorn-gevent" / "mixed-workers1-vus-004.summary.json"
CPU = SMALL_RUN / "gunicorn-gthread-1x8" / "cpu-cpus2-cpuset0-1-vus-004.summary.json"


def test_reads_a_real_io_summary():
    r = read_summary(IO)
    raw = json.loads(IO.read_text())
    lab, m = raw["lab"], raw["metrics"]
    io = r.classes["io"]
    assert (lab["service"], lab["vus"], lab["params"]["io_ms"]) == ("gunicorn-gevent", 4, 250)
    assert io.window_s == lab["duration_s"] - lab["warmup_s"]
    assert io.completions == m["steady_completions_io"]["values"]["count"]
    assert io.throughput_rps == pytest.approx(io.completions / io.window_s)
    # Little's law: L = throughput (1/s) x mean time in the app (ms -> s)
    assert io.little_inflight == pytest.approx(
        io.throughput_rps * m["steady_app_ms_io"]["values"]["avg"] / 1000)
    assert r.server_peak == m["server_inflight"]["values"]["max"]
    assert io.cpu_time_ms is None


def test_the_setup_probe_is_not_counted_as_load():
    raw = json.loads(IO.read_text())["metrics"]
    r = read_summary(IO)
    assert r.requests == raw[LOAD_REQUESTS]["values"]["count"]
    assert r.requests == raw["http_reqs"]["values"]["count"] - 1  # the tagged setup probe
    assert r.failures == raw[LOAD_FAILED]["values"]["passes"] == 0


def test_reads_every_class_of_a_mixed_summary_with_its_own_window():
    r = read_summary(MIXED)
    assert list(r.classes) == ["io_alone", "io_beside", "cpu"]
    lab = r.params
    assert r.classes["io_alone"].window_s == lab["duration_s"] - lab["warmup_s"]
    assert r.classes["io_beside"].window_s == lab["duration_s"] - lab["warmup_s"]
    assert r.classes["cpu"].cpu_time_ms >= lab["params"]["cpu_ms"]


def test_cpu_requests_report_the_cpu_they_burnt():
    cpu = read_summary(CPU).classes["cpu"]
    assert cpu.cpu_time_ms == pytest.approx(50, rel=0.01)


def test_a_summary_without_lab_parameters_is_refused(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"metrics": {}}))
    with pytest.raises(SummaryError, match="not a k6/lib/lab.js summary"):
        read_summary(path)


def test_a_run_with_no_steady_completion_is_refused(tmp_path):
    raw = json.loads(IO.read_text())
    del raw["metrics"]["steady_completions_io"]
    path = tmp_path / "s.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(SummaryError, match="no io request completed"):
        read_summary(path)


def test_little_is_the_time_in_the_app_inside_the_window_where_k6_recorded_it(tmp_path):
    # k6/lib/lab.js sums each response's seconds in the app that fell inside the window;
    # L is that over the window's length, not X x W (whose edge terms it avoids).
    raw = json.loads(IO.read_text())
    window_s = raw["lab"]["duration_s"] - raw["lab"]["warmup_s"]
    raw["metrics"]["steady_app_s_io"] = {"type": "counter", "contains": "default",
                                         "values": {"count": 3.5 * window_s, "rate": 0.0}}
    path = tmp_path / "io.summary.json"
    path.write_text(json.dumps(raw))
    io = read_summary(path).classes["io"]
    assert io.app_inflight_s == pytest.approx(3.5 * window_s)
    assert io.little_inflight == pytest.approx(3.5)
    # Summaries written before the metric existed keep X x W.
    assert read_summary(IO).classes["io"].app_inflight_s is None
