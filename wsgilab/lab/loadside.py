"""The instrument's own limit: where the load side, not the server, is full.

k6, nginx, the engine's port forwarding and the engine itself share the load cores (core 0
here). A level whose load side ran them busy measures the instrument, not the server: its
figures are reported, marked **instrument-bound**, neither a pass nor the server's failure.

- ``load_cores_busy``: per level, the busy time of the load cores as a whole (every
  process on them, not only k6's own CPU), less the share of the measured app when its
  cpuset includes them, over the steady window (``measure.WindowSampler``).
- ``calibrate``: once per run that sends open loads, the highest rate this machine drives
  through nginx to an answer that costs nothing (nginx proxying to itself:
  ``/lab-instrument/`` in services/nginx/nginx.conf, the same proxying as a
  configuration's). A requested rate above it is refused before any load.
- ``arrival_stats``: what an open level really offered, from the send times k6 recorded
  (``lab_arrivals`` in its raw output): the count, the mean inter-arrival time and its
  coefficient of variation (0 for evenly spaced arrivals, 1 for a Poisson process).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from wsgilab.lab import k6
from wsgilab.model.load import Closed
from wsgilab.model.paths import ROOT
from wsgilab.model.results import SummaryError, read_summary

#: Above this busy fraction of the load cores a level is instrument-bound. k6's own
#: guidance keeps its CPU under 80% ("Running large tests"); the figure here is the whole
#: core's (k6, nginx, the engine, the backends), so the line is drawn a little higher:
#: past it the load side queues requests of its own.
LOAD_CORES_BUSY_MAX = 0.85
#: The path nginx answers itself, through one proxying hop (services/nginx/nginx.conf).
ZERO_SERVICE = "lab-instrument"
#: The calibration: closed-model VUs against the zero answer, for this many seconds (one of
#: warm-up). Enough VUs that the load side, not the VUs, is what stops it.
CALIBRATION_VUS = 64
CALIBRATION_S = 4
#: Where the last calibration is kept, so that options can refuse a rate before a run.
CALIBRATION_FILE = ROOT / "results" / "instrument.json"


@dataclass(frozen=True)
class Calibration:
    """The most requests per second the load side drove through nginx to a zero-work
    answer, measured at ``measured`` (ISO 8601), with the load cores this busy."""

    max_rps: float
    load_cores_busy: float | None
    measured: str

    def to_dict(self) -> dict:
        return asdict(self)


def last_calibration(path: Path | None = None) -> Calibration | None:
    """The calibration a run kept last on this machine (``CALIBRATION_FILE``), or None."""
    try:
        return Calibration(**json.loads((path or CALIBRATION_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def keep(calibration: Calibration, path: Path | None = None) -> None:
    """Write ``calibration`` where ``last_calibration`` reads it."""
    path = path or CALIBRATION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(calibration.to_dict()))


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def core_times() -> list[tuple[float, float, float]]:
    """Per core of the host, (busy, total, steal) seconds since boot (psutil, from
    /proc/stat).

    Busy is everything but idle and iowait; steal (time the hypervisor gave another guest)
    counts as busy, since the core was not the lab's, and is also kept apart, to say how
    much of it the machine, not the lab, took. guest and guest_nice are left out of the
    total: Linux counts them in user too (psutil docs, ``cpu_times``).
    """
    times = []
    for core in psutil.cpu_times(percpu=True):
        total = sum(core) - getattr(core, "guest", 0.0) - getattr(core, "guest_nice", 0.0)
        times.append((total - core.idle - getattr(core, "iowait", 0.0), total,
                      getattr(core, "steal", 0.0)))
    return times


def busy_on(cores: frozenset[int], before: list[tuple], after: list[tuple],
            index: int = 0) -> float | None:
    """The CPUs kept busy on ``cores`` between two samples of the host's per-core
    (busy, total, steal) seconds (``core_times``), or with ``index`` 2 the CPUs the
    hypervisor took from them (steal); None for no core."""
    cores = [c for c in cores if c < len(before)]
    if not cores:
        return None
    return sum((after[c][index] - before[c][index]) / max(1e-9, after[c][1] - before[c][1])
               for c in cores)


def load_side_busy(load_busy_cpus: float, load_cores: frozenset[int], app_cores: frozenset[int],
                   app_cpus: float | None) -> float:
    """The load cores' busy fraction that was not the measured app's: where the app's
    cpuset includes load cores (a CPU level on both cores), its CPU is taken out in the
    share its cpuset gives them (the scheduler spreads a container over its cpuset)."""
    overlap = len(load_cores & app_cores)
    app_share = (app_cpus or 0.0) * overlap / len(app_cores) if overlap and app_cores else 0.0
    return max(0.0, load_busy_cpus - app_share) / max(1, len(load_cores))


def arrival_stats(raw_paths: list[Path], warmup_s: float, duration_s: float) -> dict:
    """The inter-arrival times an open level sent, from k6's raw output: every instance's
    where the level was split (their arrivals interleave into the level's).

    Args:
        raw_paths: k6's ``--out json`` files (gzip), each holding a ``lab_arrivals`` point
            per request sent (k6/lib/lab.js).
        warmup_s, duration_s: the steady window, in seconds after the first arrival.

    Returns:
        ``arrivals_sent`` (in the window), ``interarrival_mean_ms`` and
        ``interarrival_cv`` (standard deviation / mean); {} with fewer than 3 arrivals.
    """
    times = []
    for raw_path in raw_paths:
        with gzip.open(raw_path, "rt") as lines:
            for line in lines:
                if '"lab_arrivals"' not in line:
                    continue
                point = json.loads(line)
                if point.get("type") == "Point" and point.get("metric") == "lab_arrivals":
                    times.append(dt.datetime.fromisoformat(point["data"]["time"]).timestamp())
    if len(times) < 3:
        return {}
    times.sort()
    start = times[0]
    kept = [t for t in times if warmup_s <= t - start <= duration_s]
    gaps = [b - a for a, b in zip(kept, kept[1:], strict=False)]
    if len(gaps) < 2:
        return {}
    mean = statistics.fmean(gaps)
    return {"arrivals_sent": len(kept), "interarrival_mean_ms": mean * 1000.0,
            "interarrival_cv": statistics.pstdev(gaps) / mean if mean > 0 else None}


class LoadSideError(RuntimeError):
    """The load side could not be calibrated, or a rate asked for is more than it drives."""


def calibrate(results_dir: Path, base_url: str, load_cpus: frozenset[int],
              out=print) -> Calibration:
    """Measure the most requests per second this machine drives through nginx to a
    zero-work answer: ``CALIBRATION_VUS`` closed-model VUs back to back for
    ``CALIBRATION_S`` seconds against ``/lab-instrument/``, k6 pinned to ``load_cpus``.
    With that many VUs and nothing to wait for, the load side is what stops them.

    Raises:
        LoadSideError: k6 failed, or no answer came back.
    """

    directory = results_dir / "load-side"
    directory.mkdir(parents=True, exist_ok=True)
    summary = directory / "calibration.summary.json"
    out(f"instrument: {CALIBRATION_VUS} VUs against nginx's zero-work answer for "
        f"{CALIBRATION_S} s, to measure what the load side can drive")
    before = core_times()
    try:
        k6.run("io.js", params={"BASE_URL": base_url, "SERVICE": ZERO_SERVICE,
                                **Closed(CALIBRATION_VUS).k6_env(),
                                "DURATION_S": str(CALIBRATION_S), "WARMUP_S": "1",
                                "GRACEFUL_STOP_S": "5", "SUMMARY_PATH": str(summary),
                                "IO_MS": "0"},
               log_path=directory / "calibration.k6.log", cpus=set(load_cpus),
               timeout_s=CALIBRATION_S + 60)
        result = read_summary(summary)
    except (k6.K6Error, SummaryError, OSError) as exc:
        raise LoadSideError(f"the load side could not be calibrated: {exc}") from exc
    after = core_times()
    busy = busy_on(load_cpus, before, after)
    rate = result.classes["io"].throughput_rps
    calibration = Calibration(max_rps=rate, measured=now(),
                              load_cores_busy=busy / len(load_cpus) if busy is not None else None)
    out(f"instrument: the load side drives at most {rate:.0f} req/s through nginx "
        f"(load cores {calibration.load_cores_busy or 0:.0%} busy)")
    return calibration
