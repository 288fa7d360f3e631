"""Read one k6 summary (written by ``k6/lib/lab.js``'s ``handleSummary``) into figures.

The shared k6 library records, for each request *class* a workload declares (``io``;
``cpu``; ``io_alone``, ``io_beside`` and ``cpu`` for ``mixed``), the responses completed
inside that class's steady window and their latency, time in app and CPU time, plus the
server-side in-flight count of every response. Requests of the load carry the tag
``lab_phase:load`` (the ``setup()`` health probe carries ``lab_phase:setup``), so the
request and failure counts are the load's own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: Sub-metrics the k6 library declares thresholds for, so that they reach the summary.
LOAD_REQUESTS = "http_reqs{lab_phase:load}"
LOAD_FAILED = "http_req_failed{lab_phase:load}"


class SummaryError(ValueError):
    """A k6 summary that lacks what k6/lib/lab.js writes (wrong script, or a run cut short)."""


@dataclass(frozen=True)
class ClassResult:
    """The steady-window figures of one request class.

    Units are in the names: ``_s`` seconds, ``_ms`` milliseconds, ``_rps`` requests per
    second. ``cpu_time_ms`` is None for requests that report no ``cpu;dur`` timing.

    Attributes:
        window_s: the class's steady window (its length in seconds).
        completions: responses (200) completed inside the window.
        throughput_rps: completions / window_s.
        latency_mean_ms, latency_p50_ms, latency_p95_ms, latency_p99_ms: client-side
            latency through nginx.
        app_time_ms: mean time inside the app (Server-Timing ``app;dur``).
        cpu_time_ms: mean CPU time the request's thread used (``cpu;dur``).
        app_inflight_s: seconds the class's requests spent in the app inside the window,
            summed over every response whenever it completed (``steady_app_s_C``); None
            in summaries written before k6/lib/lab.js recorded it (2026-11-24).
    """

    window_s: float
    completions: int
    throughput_rps: float
    latency_mean_ms: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    app_time_ms: float
    cpu_time_ms: float | None = None
    app_inflight_s: float | None = None

    @property
    def little_inflight(self) -> float:
        """Little's L for this class: the time-average number of its requests in the app
        over the window, ``app_inflight_s / window_s``.

        Little's law (L = X x W; Little 1961) gives the same in the long run, but over a
        window a few requests long X x W has edge terms: requests in progress at its end
        are left out, those begun before its start count in full (k6/lib/lab.js). Old
        summaries, without ``app_inflight_s``, fall back to throughput (1/s) x mean time in
        the app (s).
        """
        if self.app_inflight_s is not None:
            return self.app_inflight_s / self.window_s
        return self.throughput_rps * self.app_time_ms / 1000.0


@dataclass(frozen=True)
class LevelResult:
    """One level as k6 measured it.

    Attributes:
        params: the run parameters the script recorded (``lab`` in the summary).
        classes: figures per request class, in the order the workload declares them.
        server_peak: the most requests in flight the server itself reported (max of the
            ``X-Inflight`` header over every response of the level).
        requests: requests the load sent (the setup probe excluded); failures: those that
            did not answer 200.
        counts: the script's own counters (``count_<name>`` in the summary), by name.
        dropped_iterations: iterations an open load's executor could not start for lack of
            a free VU (k6's ``dropped_iterations``): requests the server was never sent.
    """

    params: dict
    classes: dict[str, ClassResult]
    server_peak: int
    requests: int
    failures: int
    counts: dict = field(default_factory=dict)
    dropped_iterations: int = 0

    def to_dict(self) -> dict:
        data = asdict(self)
        for name, cls in self.classes.items():
            data["classes"][name]["little_inflight"] = cls.little_inflight
        return data

    @classmethod
    def from_dict(cls, data: dict) -> LevelResult:
        classes = {}
        for name, values in data["classes"].items():
            values = {k: v for k, v in values.items() if k != "little_inflight"}
            classes[name] = ClassResult(**values)
        return cls(params=data["params"], classes=classes, server_peak=data["server_peak"],
                   requests=data["requests"], failures=data["failures"],
                   counts=data.get("counts", {}),
                   dropped_iterations=data.get("dropped_iterations", 0))


def _values(metrics: dict, name: str, path: Path) -> dict:
    try:
        return metrics[name]["values"]
    except KeyError:
        raise SummaryError(f"{path}: k6 summary has no metric {name!r}") from None


def read_summary(path: Path | str) -> LevelResult:
    """Parse the summary JSON at ``path``.

    Raises:
        SummaryError: a metric or the ``lab`` parameters are missing, or a class has no
            response completed inside its steady window (nothing to measure).
        OSError, json.JSONDecodeError: the file is missing or not JSON.
    """
    path = Path(path)
    data = json.loads(path.read_text())
    try:
        lab = data["lab"]
        metrics = data["metrics"]
        windows = lab["windows"]
    except KeyError as missing:
        raise SummaryError(f"{path}: not a k6/lib/lab.js summary (no {missing})") from None
    classes = {}
    for name in lab.get("classes", list(windows)):
        start_s, end_s = windows[name]
        window_s = float(end_s - start_s)
        # k6 leaves out custom metrics that never received a sample.
        completions = int(metrics.get(f"steady_completions_{name}", {})
                          .get("values", {}).get("count", 0))
        if completions == 0 and name in lab.get("optional", ()):
            continue  # a rare request of a mix that did not come up in the window
        if completions == 0:
            raise SummaryError(f"{path}: no {name} request completed in its steady window "
                               f"({start_s}..{end_s} s)")
        latency = _values(metrics, f"steady_latency_ms_{name}", path)
        cpu = metrics.get(f"steady_cpu_ms_{name}", {}).get("values")
        app_s = metrics.get(f"steady_app_s_{name}", {}).get("values")
        classes[name] = ClassResult(
            window_s=window_s,
            completions=completions,
            throughput_rps=completions / window_s,
            latency_mean_ms=latency["avg"],
            latency_p50_ms=latency["p(50)"],
            latency_p95_ms=latency["p(95)"],
            latency_p99_ms=latency["p(99)"],
            app_time_ms=_values(metrics, f"steady_app_ms_{name}", path)["avg"],
            cpu_time_ms=cpu["avg"] if cpu else None,
            # A window with completions has time in the app in it; k6 leaves the metric
            # out only of summaries written before it existed.
            app_inflight_s=app_s["count"] if app_s else None,
        )
    return LevelResult(
        params=lab,
        classes=classes,
        server_peak=int(_values(metrics, "server_inflight", path)["max"]),
        requests=int(_values(metrics, LOAD_REQUESTS, path)["count"]),
        failures=int(_values(metrics, LOAD_FAILED, path)["passes"]),
        counts={name[len("count_"):]: int(m["values"]["count"]) for name, m in metrics.items()
                if name.startswith("count_")},
        # k6 leaves a metric out of the summary when it got no sample: none dropped.
        dropped_iterations=int(metrics.get("dropped_iterations", {}).get("values", {}).get("count", 0)),
    )
