"""Read one k6 summary (written by k6/io.js's handleSummary) into the lab's figures."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


class SummaryError(ValueError):
    """A k6 summary that lacks what k6/io.js writes (wrong script, or a run cut short)."""


@dataclass(frozen=True)
class LevelResult:
    """One configuration at one load level, as measured.

    Units are in the names: ``_s`` seconds, ``_ms`` milliseconds, ``_rps`` requests per
    second. Latencies are over the steady window only.

    Attributes:
        service, vus, io_ms, window_s: what was run (window_s = duration - warm-up).
        throughput_rps: 200 responses completed in the steady window / window_s.
        latency_p50_ms, latency_p95_ms, latency_p99_ms: client-side request latency.
        app_time_ms: mean time a request spent inside the app (Server-Timing app;dur).
        little_inflight: Little's law, L = throughput x time in app: the average number
            of requests inside the app, derived from the client's throughput.
        server_peak: the most requests in flight the server itself reported (max X-Inflight).
        requests: all requests sent; failures: those without a 200.
    """

    service: str
    vus: int
    io_ms: int
    window_s: float
    completions: int
    throughput_rps: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    app_time_ms: float
    little_inflight: float
    server_peak: int
    requests: int
    failures: int

    def to_dict(self) -> dict:
        return asdict(self)


def _metric(metrics: dict, name: str) -> dict:
    try:
        return metrics[name]["values"]
    except KeyError:
        raise SummaryError(f"k6 summary has no metric {name!r}") from None


def read_summary(path: Path) -> LevelResult:
    """Parse the summary JSON at ``path``.

    Raises:
        SummaryError: a metric or the ``lab`` parameters are missing, or no request
            completed inside the steady window (nothing to measure).
        OSError, json.JSONDecodeError: the file is missing or not JSON.
    """
    data = json.loads(Path(path).read_text())
    try:
        lab = data["lab"]
        metrics = data["metrics"]
    except KeyError as missing:
        raise SummaryError(f"{path}: not a k6/io.js summary (no {missing})") from None
    window_s = float(lab["duration_s"] - lab["warmup_s"])
    # k6 leaves out custom metrics that never received a sample.
    completions = int(metrics.get("steady_completions", {}).get("values", {}).get("count", 0))
    if completions == 0:
        raise SummaryError(f"{path}: no request completed in the steady window "
                           f"({lab['warmup_s']}..{lab['duration_s']} s)")
    latency = _metric(metrics, "steady_latency_ms")
    app_ms = _metric(metrics, "steady_handler_ms")["avg"]
    throughput = completions / window_s
    # The setup() health probe is one of http_reqs; it is not part of the load.
    reqs = _metric(metrics, "http_reqs")["count"] - 1
    failed = _metric(metrics, "http_req_failed")["passes"]
    return LevelResult(
        service=lab["service"],
        vus=int(lab["vus"]),
        io_ms=int(lab["io_ms"]),
        window_s=window_s,
        completions=completions,
        throughput_rps=throughput,
        latency_p50_ms=latency["p(50)"],
        latency_p95_ms=latency["p(95)"],
        latency_p99_ms=latency["p(99)"],
        app_time_ms=app_ms,
        little_inflight=throughput * app_ms / 1000.0,
        server_peak=int(_metric(metrics, "server_inflight")["max"]),
        requests=int(reqs),
        failures=int(failed),
    )
