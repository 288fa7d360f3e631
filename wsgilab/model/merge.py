"""One level's figures from the raw samples of every k6 instance that ran a part of it.

A level split across k6 instances (``segments``) gives one summary per instance, and
summaries do not add up: a p99 of the whole is not a mean, nor any other function, of the
instances' p99s. Each instance's raw output (``--out json=<file>.gz``: one JSON line per
sample, ``{"type": "Point", "metric": ..., "data": {"time", "value", "tags"}}``) holds
every sample, so the whole level's figures are computed here from the union of them, as
``results.read_summary`` reads them from one instance's summary, metric by metric:

- the ``steady_*`` trends (latency, time in app, CPU time): mean and percentiles of all
  their samples, percentiles by k6's own method (``k6_percentile``);
- counters (``steady_completions_C``, ``steady_app_s_C``, ``count_*``,
  ``dropped_iterations``): the sum of every sample's value, as k6's ``CounterSink`` adds
  them;
- ``server_inflight``: the largest sample;
- requests and failures: ``http_reqs`` and ``http_req_failed`` samples tagged
  ``lab_phase:load`` (what the summary's sub-metrics ``{lab_phase:load}`` select), the
  failures being the non-zero ``http_req_failed`` samples (k6's ``RateSink`` passes).

Sums are exact (``math.fsum``): the merge does not depend on the order of the files or of
their lines. k6 adds in the order samples reach it, so a mean or a ``steady_app_s`` sum may
differ from its summary's in the last bits; percentiles, maxima and counts of one
instance's raw file are its summary's exactly.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from wsgilab.model.results import ClassResult, LevelResult, SummaryError

#: The tag and value of the load's own requests (k6/lib/lab.js), as in the summary's
#: ``http_reqs{lab_phase:load}``.
LOAD_TAG = ("lab_phase", "load")
#: The percentiles a level records, as fractions (k6's ``p(N)`` is ``P(N / 100)``).
PERCENTILES = {"p50": 50 / 100, "p95": 95 / 100, "p99": 99 / 100}


def k6_percentile(ordered: Sequence[float], fraction: float) -> float:
    """The ``fraction`` percentile (0.99 for p99) of sorted ``ordered``, as k6 computes a
    Trend's ``p(N)`` and ``med`` (k6 v1.1.0 ``metrics/sink.go``, ``TrendSink.P``).

    Linear interpolation between the two closest ranks: with ``i = fraction x (n - 1)``,
    ``v[floor(i)] + (v[ceil(i)] - v[floor(i)]) x (i - floor(i))`` (Hyndman and Fan's
    type 7, NumPy's default ``linear``); 0 for no value, the value itself for one. The same
    float operations in the same order as k6's, so that one instance's figures come out
    to the bit (k6's amd64 build does not fuse the multiply-add).

    Raises:
        ValueError: ``fraction`` outside [0, 1].
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"a percentile is a fraction in [0, 1], got {fraction}")
    if not ordered:
        return 0.0
    if len(ordered) == 1:
        return ordered[0]
    i = fraction * (float(len(ordered)) - 1.0)
    low, high = ordered[math.floor(i)], ordered[math.ceil(i)]
    return low + (high - low) * (i - math.floor(i))


def read_points(path: Path | str) -> Iterator[tuple[str, float, dict]]:
    """Every sample of one k6 raw output, as ``(metric, value, tags)``.

    Args:
        path: k6's ``--out json`` file, gzip-compressed (``.gz``) or plain.

    Raises:
        OSError: the file cannot be read (or is not gzip although named ``.gz``).
        SummaryError: a line that is not JSON (a file cut short, say by a killed k6).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                point = json.loads(line)
            except json.JSONDecodeError:
                raise SummaryError(f"{path}:{number}: not a k6 JSON sample") from None
            if point.get("type") == "Point":
                data = point["data"]
                yield point["metric"], data["value"], data.get("tags") or {}


class _Samples:
    """What the figures need of a level's samples, gathered over any number of files."""

    def __init__(self, classes: Iterable[str]) -> None:
        names = [f"steady_{kind}_{c}" for c in classes for kind in ("latency_ms", "app_ms", "cpu_ms")]
        self.trends: dict[str, list[float]] = {name: [] for name in names}
        # Counters by name: every sample's value, summed once at the end (fsum).
        self.counters: dict[str, list[float]] = {}
        self.inflight_max: float | None = None
        self.requests: list[float] = []
        self.failures = 0

    def add(self, metric: str, value: float, tags: dict) -> None:
        if metric in self.trends:
            self.trends[metric].append(value)
        elif metric.startswith(("steady_completions_", "steady_app_s_", "count_")) \
                or metric == "dropped_iterations":
            self.counters.setdefault(metric, []).append(value)
        elif metric == "server_inflight":
            self.inflight_max = value if self.inflight_max is None else max(self.inflight_max, value)
        elif tags.get(LOAD_TAG[0]) == LOAD_TAG[1]:
            if metric == "http_reqs":
                self.requests.append(value)
            elif metric == "http_req_failed" and value != 0:
                self.failures += 1

    def counter(self, name: str) -> float | None:
        """The counter's total, None when it got no sample (k6 leaves it out of a summary)."""
        values = self.counters.get(name)
        return math.fsum(values) if values else None


def merge(raw_paths: Sequence[Path | str], params: dict) -> LevelResult:
    """The level's figures from the union of every instance's raw samples: what
    ``results.read_summary`` would read from the summary of one k6 that had run it all.

    Args:
        raw_paths: each instance's ``--out json`` file (one file: that instance alone).
        params: the run parameters the script records (``lab`` in any instance's summary:
            ``windows``, ``{class: [from_s, to_s]}`` in seconds, whose lengths divide the
            completions into throughputs; ``classes``, their order; ``optional``, classes
            that may have no completion). Kept as the result's ``params``.

    Raises:
        SummaryError: no raw file, ``params`` without ``windows``, a class with no
            completion in its window (unless optional) or without time-in-app samples, no
            ``server_inflight`` sample, or a raw line that is not JSON.
        OSError: a raw file cannot be read.
    """
    if not raw_paths:
        raise SummaryError("no raw output to merge")
    try:
        windows = params["windows"]
    except KeyError:
        raise SummaryError("the run parameters have no steady windows") from None
    names = list(params.get("classes", list(windows)))
    samples = _Samples(names)
    for path in raw_paths:
        for metric, value, tags in read_points(path):
            samples.add(metric, value, tags)
    where = ", ".join(str(p) for p in raw_paths)
    classes = {}
    for name in names:
        start_s, end_s = windows[name]
        window_s = float(end_s - start_s)
        completions = int(samples.counter(f"steady_completions_{name}") or 0)
        if completions == 0 and name in params.get("optional", ()):
            continue
        if completions == 0:
            raise SummaryError(f"{where}: no {name} request completed in its steady window "
                               f"({start_s}..{end_s} s)")
        latency = sorted(samples.trends[f"steady_latency_ms_{name}"])
        app = samples.trends[f"steady_app_ms_{name}"]
        cpu = samples.trends[f"steady_cpu_ms_{name}"]
        if not latency or not app:
            raise SummaryError(f"{where}: {name} has completions but no latency or time-in-app samples")
        classes[name] = ClassResult(
            window_s=window_s,
            completions=completions,
            throughput_rps=completions / window_s,
            latency_mean_ms=math.fsum(latency) / len(latency),
            latency_p50_ms=k6_percentile(latency, PERCENTILES["p50"]),
            latency_p95_ms=k6_percentile(latency, PERCENTILES["p95"]),
            latency_p99_ms=k6_percentile(latency, PERCENTILES["p99"]),
            app_time_ms=math.fsum(app) / len(app),
            cpu_time_ms=math.fsum(cpu) / len(cpu) if cpu else None,
            app_inflight_s=samples.counter(f"steady_app_s_{name}"),
        )
    if samples.inflight_max is None:
        raise SummaryError(f"{where}: no server_inflight sample (no response of the load was read)")
    return LevelResult(
        params=params,
        classes=classes,
        server_peak=int(samples.inflight_max),
        requests=int(math.fsum(samples.requests)),
        failures=samples.failures,
        counts={name[len("count_"):]: int(samples.counter(name) or 0)
                for name in sorted(samples.counters) if name.startswith("count_")},
        dropped_iterations=int(samples.counter("dropped_iterations") or 0),
    )


def same_params(summary_paths: Sequence[Path | str]) -> dict:
    """The run parameters (``lab``) the instances' summaries recorded, checked to be one
    level's: every instance ran the same script with the same parameters.

    Raises:
        SummaryError: no summary, one without ``lab``, or instances that disagree.
        OSError, json.JSONDecodeError: a summary is missing or not JSON.
    """
    if not summary_paths:
        raise SummaryError("no summary to read the run parameters from")
    found = []
    for path in summary_paths:
        data = json.loads(Path(path).read_text())
        if "lab" not in data:
            raise SummaryError(f"{path}: not a k6/lib/lab.js summary (no 'lab')")
        found.append(data["lab"])
    for path, lab in zip(summary_paths[1:], found[1:], strict=True):
        if lab != found[0]:
            raise SummaryError(f"{path}: its run parameters differ from {summary_paths[0]}'s")
    return found[0]
