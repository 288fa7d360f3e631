"""Reading k6 summaries (tests/data holds one from a real run of k6/io.js)."""

import json

import pytest

from wsgilab.results import SummaryError, read_summary

DATA = "tests/data/gunicorn-sync-vus-010.summary.json"


def test_reads_a_real_summary():
    r = read_summary(DATA)
    raw = json.load(open(DATA))
    lab, m = raw["lab"], raw["metrics"]
    assert (r.service, r.vus, r.io_ms) == ("gunicorn-sync", 10, 250)
    assert r.window_s == lab["duration_s"] - lab["warmup_s"]
    assert r.completions == m["steady_completions"]["values"]["count"]
    assert r.throughput_rps == pytest.approx(r.completions / r.window_s)
    # Little's law: L = throughput (1/s) x mean time in the app (ms -> s)
    assert r.little_inflight == pytest.approx(
        r.throughput_rps * m["steady_handler_ms"]["values"]["avg"] / 1000)
    assert r.server_peak == m["server_inflight"]["values"]["max"]
    assert r.failures == 0


def test_a_summary_without_lab_parameters_is_refused(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"metrics": {}}))
    with pytest.raises(SummaryError, match="not a k6/io.js summary"):
        read_summary(path)


def test_a_run_with_no_steady_completion_is_refused(tmp_path):
    raw = json.load(open(DATA))
    del raw["metrics"]["steady_completions"]
    path = tmp_path / "s.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(SummaryError, match="no request completed"):
        read_summary(path)
