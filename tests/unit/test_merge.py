"""A level split across k6 instances: the segment arithmetic (every VU and every arrival
falls to exactly one instance), the command line of one instance, and the merge of their
raw samples into one level's figures.

The merge is checked against k6 itself: the lab's own io.js is run for two seconds (2 VUs)
against a small HTTP server on 127.0.0.1 that answers as the instrument does (``X-Inflight``,
``Server-Timing: cpu;dur=.., app;dur=..``), once whole and once as two segments side by
side; one instance's raw samples, merged, must give what read_summary reads from its own
summary. The rest is synthetic samples written as k6 writes them.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from wsgilab.lab import k6
from wsgilab.model import segments
from wsgilab.model.merge import k6_percentile, merge, read_points, same_params
from wsgilab.model.results import LevelResult, SummaryError, read_summary
from wsgilab.model.segments import (
    Part,
    SegmentError,
    check_cover,
    closed_shares,
    open_shares,
    parse_sequence,
    parts,
    scale,
    stripes,
)

# --- segments ---------------------------------------------------------------------------


def test_segments_are_written_as_k6_writes_them():
    assert segments.segments(1) == ("0,1", ["0:1"])
    assert segments.segments(4) == ("0,1/4,1/2,3/4,1", ["0:1/4", "1/4:1/2", "1/2:3/4", "3/4:1"])
    assert segments.segments(3)[1] == ["0:1/3", "1/3:2/3", "2/3:1"]
    for bad in (0, -2, 1.5, True):
        with pytest.raises(SegmentError):
            segments.segments(bad)


@pytest.mark.parametrize("n", range(1, 9))
def test_n_segments_cover_the_whole_test_exactly_once(n):
    sequence, each = segments.segments(n)
    check_cover(sequence, each)
    bounds = [segments.parse_segment(s) for s in each]
    assert bounds[0][0] == 0 and bounds[-1][1] == 1
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    assert sum(high - low for low, high in bounds) == 1
    assert [p.segment for p in parts(n)] == each and {p.sequence for p in parts(n)} == {sequence}


@pytest.mark.parametrize("given, message", [
    (["0:1/4", "1/4:1/2", "1/2:3/4"], "run by no instance"),
    (["0:1/4", "1/4:1/2", "1/2:3/4", "3/4:1", "3/4:1"], "twice"),
    (["0:1/4", "1/4:1/2", "1/2:1"], "not one of the sequence"),
])
def test_segments_that_leave_a_gap_or_overlap_are_refused(given, message):
    with pytest.raises(SegmentError, match=message):
        check_cover("0,1/4,1/2,3/4,1", given)


@pytest.mark.parametrize("bad", ["0,1/2", "0,1/2,1/2,1", "0.1,1", "1", "0,x,1"])
def test_a_sequence_that_is_not_all_of_the_test_is_refused(bad):
    with pytest.raises(SegmentError):
        parse_sequence(bad)


def test_a_part_must_be_a_segment_of_its_sequence():
    assert Part("1/4:1/2", "0,1/4,2/4,3/4,1").segment == "1/4:1/2"  # k6 reads 2/4 as 1/2
    with pytest.raises(SegmentError):
        Part("1/4:3/4", "0,1/4,1/2,3/4,1")


def test_striping_is_k6s():
    # k6 v1.1.0 lib/execution_segment_test.go, TestGetStripedOffsets (full sequences): each
    # segment's first unit and the gaps to its next ones, over a period of 10.
    def owned(sequence):
        points = parse_sequence(sequence)
        return stripes([b - a for a, b in zip(points, points[1:], strict=False)])

    assert owned("0,0.3,0.5,0.6,0.7,0.8,0.9,1") == (10, [[0, 4, 7], [1, 5], [2], [3], [6], [8], [9]])
    lcd, units = owned("0,0.2,0.5,0.6,0.7,0.8,0.9,1")
    assert lcd == 10 and units[0] == [1, 5] and units[3] == [3] and units[6] == [9]
    # The table of lib/execution_segment.go's ExecutionTuple comment: 1..12 over 1/2, 1/4, 1/4.
    lengths = [Fraction(1, 2), Fraction(1, 4), Fraction(1, 4)]
    assert [scale(lengths, 0, v) for v in range(1, 13)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]
    assert [scale(lengths, 1, v) for v in range(1, 13)] == [0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3]
    assert [scale(lengths, 2, v) for v in range(1, 13)] == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3]


@pytest.mark.parametrize("n", range(1, 9))
def test_n_instances_run_every_vu_of_a_closed_load_once(n):
    for vus in [*range(1, 41), 97, 1000, 9999]:
        shares = closed_shares(vus, n)
        assert sum(shares) == vus, (n, vus, shares)
        # Equal segments: vus // n each, one more for the first vus % n.
        assert shares == [vus // n + (1 if i < vus % n else 0) for i in range(n)]


@pytest.mark.parametrize("n", range(1, 9))
def test_n_instances_send_every_arrival_of_an_open_load_once(n):
    for rate, vus in [(1, 1), (7, 3), (10, 3), (16500, 20), (100, 7), (5, 8), (999, 13), (3, 2)]:
        shares = open_shares(rate, vus, n)
        assert sum(s.vus for s in shares) == vus
        assert sum(s.rate for s in shares) == rate, (n, rate, vus, shares)
        # The rate follows the VUs an instance got (k6 re-segments by maxVUs).
        assert all(s.rate == Fraction(rate * s.vus, vus) for s in shares)
        count = 60 * vus  # whole periods: the stripes repeat every lcd units, and lcd divides vus
        ticks = [t for s in shares for t in s.ticks(count)]
        assert sorted(ticks) == list(range(count)), (n, rate, vus)
        # Over whole periods each instance starts its rate's share of the iterations.
        assert [len(s.ticks(count)) for s in shares] == [count * s.vus // vus for s in shares]


def test_an_open_load_follows_the_vus_not_the_segment_length():
    two, one = open_shares(10, 3, 2)
    assert (two.vus, two.rate, one.vus, one.rate) == (2, Fraction(20, 3), 1, Fraction(10, 3))
    assert two.ticks(9) == [0, 2, 3, 5, 6, 8] and one.ticks(9) == [1, 4, 7]
    # Fewer VUs than instances: the instance without one sends nothing, the rest send all.
    shares = open_shares(10, 2, 3)
    assert [s.vus for s in shares] == [1, 1, 0] and shares[2].rate == 0 and shares[2].ticks(6) == []
    assert [s.rate for s in shares] == [5, 5, 0]


IO_PARAMS = {"SERVICE": "probe", "DURATION_S": "5", "WARMUP_S": "1", "SUMMARY_PATH": "/tmp/unused.json",
             "IO_MS": "10"}


def _k6_max_vus(tmp_path: Path, params: dict, part: Part) -> int:
    # `k6 inspect` has no segment flags; k6 reads the same options from a config file.
    config = tmp_path / "segment.json"
    config.write_text(json.dumps({"executionSegment": part.segment,
                                  "executionSegmentSequence": part.sequence}))
    proc = subprocess.run([k6.k6_binary(), "inspect", "--execution-requirements", "-c", str(config),
                           *k6.env_flags(params), str(k6.SCRIPTS / "io.js")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found["executionSegment"] == part.segment
    return found["maxVUs"]


@pytest.mark.parametrize("n, vus", [(2, 7), (3, 7), (8, 9)])
def test_k6_gives_each_instance_the_vus_computed_here(tmp_path, n, vus):
    closed = {**IO_PARAMS, "VUS": str(vus)}
    assert [_k6_max_vus(tmp_path, closed, p) for p in parts(n)] == closed_shares(vus, n)
    opened = {**closed, "LOAD_MODEL": "open", "RATE_PER_UNIT": "1000", "RATE_TIME_UNIT_S": "1"}
    assert [_k6_max_vus(tmp_path, opened, p) for p in parts(n)] == [s.vus for s in open_shares(1000, vus, n)]


# --- one instance's command line --------------------------------------------------------


def test_one_instance_runs_its_segment_and_a_whole_level_runs_as_before(monkeypatch, tmp_path):
    whole = k6.command("io.js", {"VUS": "4"}, tmp_path / "raw.json.gz")
    assert whole == [k6.k6_binary(), "run", "--quiet", "--no-usage-report", "--no-color",
                     "--out", f"json={tmp_path / 'raw.json.gz'}", "--env", "VUS=4",
                     str(k6.SCRIPTS / "io.js")]
    assert k6.command("io.js", {"VUS": "4"}) == [*whole[:5], *whole[7:]]
    second = parts(4)[1]
    split = k6.command("io.js", {"VUS": "4"}, tmp_path / "raw.json.gz", segment=second)
    assert split == [*whole[:7], "--execution-segment", "1/4:1/2",
                     "--execution-segment-sequence", "0,1/4,1/2,3/4,1", *whole[7:]]

    started = []

    def fake_run(cmd, **kwargs):
        started.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(k6.subprocess, "run", fake_run)
    k6.run("io.js", {"VUS": "4"}, tmp_path / "k6.log", tmp_path / "raw.json.gz")
    k6.run("io.js", {"VUS": "4"}, tmp_path / "k6.log", tmp_path / "raw.json.gz", segment=second)
    assert started == [whole, split]


# --- k6's percentiles --------------------------------------------------------------------


def test_percentiles_interpolate_between_closest_ranks_as_k6_does():
    assert k6_percentile([], 0.99) == 0.0 and k6_percentile([7.0], 0.5) == 7.0
    assert k6_percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert k6_percentile([10.0, 20.0], 0.95) == pytest.approx(19.5)
    values = sorted(float(v) for v in np.random.default_rng(7).exponential(40.0, 997))
    for fraction in (0.5, 0.95, 0.99, 0.0, 1.0):
        assert k6_percentile(values, fraction) == pytest.approx(
            np.percentile(values, fraction * 100, method="linear"), rel=1e-12)
    with pytest.raises(ValueError):
        k6_percentile(values, 99)


# --- the merge, against k6 itself --------------------------------------------------------


class _Instrumented(BaseHTTPRequestHandler):
    """Answers like the lab's instrument: ``/<service>/_lab/health``, and ``/<service>/io?ms=N``
    after N ms with the requests in flight and the time in the app in its headers."""

    protocol_version = "HTTP/1.1"  # keep-alive, as nginx gives k6
    # Headers and body go out in two writes: with Nagle's algorithm the second waits for
    # k6's delayed ACK (40 ms), which would be most of a 20 ms request's latency.
    disable_nagle_algorithm = True

    def do_GET(self):  # noqa: N802 (http.server's name)
        server = self.server
        with server.lock:
            server.inflight += 1
            inflight = server.inflight
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            if "/io?ms=" in self.path:
                time.sleep(int(self.path.rsplit("=", 1)[1]) / 1000)
            app_ms = (time.perf_counter() - started) * 1000
            cpu_ms = (time.thread_time() - cpu_started) * 1000
            self.send_response(200)
            self.send_header("X-Inflight", str(inflight))
            self.send_header("Server-Timing", f"cpu;dur={cpu_ms:.3f}, app;dur={app_ms:.3f}")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        finally:
            with server.lock:
                server.inflight -= 1

    def log_message(self, *args):
        pass


def _serve():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Instrumented)
    server.daemon_threads = True
    server.lock, server.inflight = threading.Lock(), 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def k6_runs(tmp_path_factory):
    """io.js for 2 s (steady window 1..2 s) of 20 ms requests, each case against its own
    server on 127.0.0.1: 2 VUs closed, whole (``whole``) and as two segments side by side
    (``a``, ``b``); and an open load of 30 req/s on 3 VUs as two segments (``open_a``,
    ``open_b``). All at once, so that the five cost no more time than one."""
    directory = tmp_path_factory.mktemp("k6")
    whole, pair, opened = _serve(), _serve(), _serve()
    open_load = {"LOAD_MODEL": "open", "RATE_PER_UNIT": "30", "RATE_TIME_UNIT_S": "1", "VUS": "3"}
    jobs = {"whole": (whole, None, {}), "a": (pair, parts(2)[0], {}), "b": (pair, parts(2)[1], {}),
            "open_a": (opened, parts(2)[0], open_load), "open_b": (opened, parts(2)[1], open_load)}

    def one(name):
        server, part, load = jobs[name]
        params = {"BASE_URL": f"http://127.0.0.1:{server.server_address[1]}", "SERVICE": "probe",
                  "VUS": "2", "DURATION_S": "2", "WARMUP_S": "1", "GRACEFUL_STOP_S": "2",
                  "IO_MS": "20", "SUMMARY_PATH": str(directory / f"{name}.summary.json"), **load}
        k6.run("io.js", params, directory / f"{name}.k6.log", directory / f"{name}.raw.json.gz",
               timeout_s=60, segment=part)
        return directory / f"{name}.raw.json.gz", directory / f"{name}.summary.json"

    try:
        with ThreadPoolExecutor(len(jobs)) as pool:
            runs = dict(zip(jobs, pool.map(one, jobs), strict=True))
    finally:
        for server in (whole, pair, opened):
            server.shutdown()
    return runs


def _assert_same(merged: LevelResult, summary: LevelResult):
    """Counts, maxima and percentiles to the bit; means and sums (k6 adds in the order
    samples reach it, the merge exactly) to 1e-12."""
    assert merged.params == summary.params and list(merged.classes) == list(summary.classes)
    for field in ("server_peak", "requests", "failures", "counts", "dropped_iterations"):
        assert getattr(merged, field) == getattr(summary, field), field
    for name, cls in summary.classes.items():
        got = merged.classes[name]
        for field in ("window_s", "completions", "throughput_rps",
                      "latency_p50_ms", "latency_p95_ms", "latency_p99_ms"):
            assert getattr(got, field) == getattr(cls, field), (name, field)
        for field in ("latency_mean_ms", "app_time_ms", "cpu_time_ms", "app_inflight_s"):
            assert getattr(got, field) == pytest.approx(getattr(cls, field), rel=1e-12), (name, field)


def test_one_instances_raw_samples_merge_to_its_own_summary(k6_runs):
    raw, summary_path = k6_runs["whole"]
    summary = read_summary(summary_path)
    assert summary.classes["io"].completions > 20 and summary.requests > 40
    _assert_same(merge([raw], same_params([summary_path])), summary)


def test_each_segment_runs_its_share_and_the_merge_is_the_whole_levels(k6_runs):
    (raw_a, sum_a), (raw_b, sum_b) = k6_runs["a"], k6_runs["b"]
    for raw, summary_path in (k6_runs["a"], k6_runs["b"]):
        # Each instance's own merge is its own summary; each ran 1 of the 2 VUs.
        _assert_same(merge([raw], same_params([summary_path])), read_summary(summary_path))
        assert max(v for m, v, _ in read_points(raw) if m == "vus") == 1
    a, b = read_summary(sum_a), read_summary(sum_b)
    merged = merge([raw_a, raw_b], same_params([sum_a, sum_b]))
    assert merged.requests == a.requests + b.requests
    assert merged.classes["io"].completions == a.classes["io"].completions + b.classes["io"].completions
    assert merged.server_peak == max(a.server_peak, b.server_peak)
    # The same load as one instance's, within the noise of a 1 s window.
    whole = read_summary(k6_runs["whole"][1]).classes["io"]
    assert 0.6 < merged.classes["io"].throughput_rps / whole.throughput_rps < 1.6, (merged, whole)


def test_an_open_loads_arrivals_follow_each_instances_vus(k6_runs):
    # 30 req/s on 3 VUs over two segments: 2 VUs and 20 req/s, then 1 VU and 10 req/s (not
    # halves). An iteration is sent (lab_arrivals) or dropped: together, the ticks k6 started.
    ticks = []
    for name in ("open_a", "open_b"):
        raw, _ = k6_runs[name]
        points = [(m, v) for m, v, _ in read_points(raw)]
        assert max(v for m, v in points if m == "vus_max") == {"open_a": 2, "open_b": 1}[name]
        ticks.append(sum(v for m, v in points if m in ("lab_arrivals", "dropped_iterations")))
    # 60 ticks in 2 s, one every 1/30 s, dealt 2:1 (a tick on the last instant may or may not
    # fall inside the duration).
    assert 39 <= ticks[0] <= 41 and 19 <= ticks[1] <= 21, ticks
    merged = merge([k6_runs["open_a"][0], k6_runs["open_b"][0]], same_params(
        [k6_runs["open_a"][1], k6_runs["open_b"][1]]))
    assert merged.requests + merged.dropped_iterations == sum(ticks)


def test_the_merge_of_two_halves_is_the_merge_of_the_whole(k6_runs, tmp_path):
    raw, summary_path = k6_runs["whole"]
    with gzip.open(raw, "rt") as source:
        lines = source.readlines()
    halves = [tmp_path / "odd.json.gz", tmp_path / "even.json.gz"]
    for i, half in enumerate(halves):
        with gzip.open(half, "wt") as out:
            out.writelines(lines[i::2])
    params = same_params([summary_path])
    assert merge(halves, params) == merge([raw], params) == merge(halves[::-1], params)


# --- the merge, on synthetic samples ----------------------------------------------------

PARAMS = {"script": "io.js", "windows": {"io": [1, 3], "rare": [1, 3]}, "classes": ["io", "rare"],
          "optional": ["rare"]}


def _point(metric, value, **tags):
    return {"metric": metric, "type": "Point",
            "data": {"time": "2026-12-06T10:00:00.000000001Z", "value": value, "tags": tags}}


def _write(path: Path, latencies, *, inflight=1, dropped=0, setup=1, failed=0, counts=None) -> Path:
    """A raw file as k6 writes it: a "Metric" line before each metric's first sample."""
    points = [_point("http_reqs", 1, lab_phase="setup") for _ in range(setup)]
    points += [_point("http_req_failed", 0, lab_phase="setup") for _ in range(setup)]
    for i, latency in enumerate(latencies):
        points += [_point("http_reqs", 1, lab_phase="load", name="/io"),
                   _point("http_req_failed", 1 if i < failed else 0, lab_phase="load"),
                   _point("server_inflight", inflight if i == 0 else 1, lab_phase="load"),
                   _point("steady_completions_io", 1), _point("steady_latency_ms_io", latency),
                   _point("steady_app_ms_io", latency / 2), _point("steady_app_s_io", latency / 2000)]
    points += [_point("dropped_iterations", 1, scenario="io") for _ in range(dropped)]
    for name, count in (counts or {}).items():
        points += [_point(f"count_{name}", 1) for _ in range(count)]
    seen = set()
    with gzip.open(path, "wt") as out:
        for point in points:
            if point["metric"] not in seen:
                seen.add(point["metric"])
                out.write(json.dumps({"type": "Metric", "metric": point["metric"], "data": {}}) + "\n")
            out.write(json.dumps(point) + "\n")
    return path


def test_percentiles_come_from_the_union_not_from_the_parts(tmp_path):
    quick, late = [10.0 + i / 100 for i in range(100)], [100.0 + i for i in range(10)]
    fast, slow = _write(tmp_path / "fast.json.gz", quick), _write(tmp_path / "slow.json.gz", late)
    both = _write(tmp_path / "both.json.gz", quick + late)
    merged, whole = merge([fast, slow], PARAMS), merge([both], PARAMS)
    parts_p99 = [merge([f], PARAMS).classes["io"].latency_p99_ms for f in (fast, slow)]
    io = merged.classes["io"]
    assert io == whole.classes["io"]
    union = sorted(quick + late)
    assert io.latency_p99_ms == k6_percentile(union, 0.99) == pytest.approx(107.91)
    # The average of the parts' p99s (about 60 ms) is not the level's p99.
    assert abs(sum(parts_p99) / 2 - io.latency_p99_ms) > 40
    assert io.completions == 110 and io.throughput_rps == 55.0
    assert io.latency_mean_ms == pytest.approx(sum(union) / 110)
    assert io.app_inflight_s == pytest.approx(sum(union) / 2000) and io.cpu_time_ms is None
    assert "rare" not in merged.classes  # optional, and no completion in its window


def test_counters_and_drops_are_summed_peaks_maximised_setup_left_out(tmp_path):
    a = _write(tmp_path / "a.json.gz", [5.0] * 4, inflight=3, dropped=2, failed=1, counts={"hit": 2})
    b = _write(tmp_path / "b.json.gz", [6.0] * 3, inflight=7, dropped=5, setup=0,
               counts={"hit": 1, "miss": 4})
    merged = merge([a, b], PARAMS)
    assert merged.dropped_iterations == 7 and merged.server_peak == 7
    assert merged.requests == 7 and merged.failures == 1  # the setup probe is not the load's
    assert merged.counts == {"hit": 3, "miss": 4}
    assert merge([a], PARAMS).dropped_iterations == 2


def test_what_cannot_be_merged_is_refused(tmp_path):
    good = _write(tmp_path / "good.json.gz", [5.0])
    with pytest.raises(SummaryError, match="no raw output"):
        merge([], PARAMS)
    with pytest.raises(SummaryError, match="windows"):
        merge([good], {"classes": ["io"]})
    with pytest.raises(SummaryError, match="no io request completed"):
        merge([_write(tmp_path / "none.json.gz", [])], PARAMS)
    cut = tmp_path / "cut.json.gz"
    with gzip.open(cut, "wt") as out:
        out.write('{"type": "Point", "metric": "vus", "da')
    with pytest.raises(SummaryError, match="not a k6 JSON sample"):
        merge([good, cut], PARAMS)


def test_instances_must_have_run_the_same_level(tmp_path):
    one, other = tmp_path / "1.json", tmp_path / "2.json"
    one.write_text(json.dumps({"lab": PARAMS, "metrics": {}}))
    other.write_text(json.dumps({"lab": {**PARAMS, "vus": 3}, "metrics": {}}))
    assert same_params([one, one]) == PARAMS
    with pytest.raises(SummaryError, match="differ"):
        same_params([one, other])
    with pytest.raises(SummaryError):
        same_params([])
