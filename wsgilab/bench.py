"""Run the bench: every configuration at every load level, one at a time, with progress.

Each level's k6 summary is written as soon as the level ends, and ``bench.json`` is
rewritten after every level, so a run that fails or is interrupted keeps what it gathered.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import docker

from . import compose, k6, report, topology
from .options import BenchOptions
from .results import LevelResult, SummaryError, read_summary
from .theory import UnknownServer, expect, judge

#: Seconds a level needs besides its duration (k6 start, health probes, container stats),
#: for the time-left estimate before the first level has been timed.
LEVEL_OVERHEAD_S = 2.0
#: Seconds to wait for a configuration to report zero requests in flight before a level.
DRAIN_TIMEOUT_S = 60.0


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _fmt_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _cpu_snapshot(container) -> dict:
    """CPU time (ns), CFS throttling and peak memory of a container, from the Docker SDK."""
    stats = container.stats(stream=False, one_shot=True)
    cpu = stats["cpu_stats"]
    return {
        "cpu_ns": cpu["cpu_usage"]["total_usage"],
        "throttled_periods": cpu.get("throttling_data", {}).get("throttled_periods", 0),
        "memory_max_bytes": stats.get("memory_stats", {}).get("max_usage", 0),
    }


class Recorder:
    """Keeps ``bench.json`` in step with the run: rewritten atomically after every change."""

    def __init__(self, path: Path, opts: BenchOptions, client: docker.DockerClient) -> None:
        self.path = path
        self.data = {
            "started": _now(),
            "finished": None,
            "status": "running",
            "options": {**asdict(opts), "results_dir": str(opts.results_dir),
                        "load_cpus": sorted(opts.load_cpus)},
            "environment": environment(client),
            "configurations": {},
            "levels": [],
        }
        self.save()

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        tmp.replace(self.path)


def environment(client: docker.DockerClient) -> dict:
    """Where the bench runs: base image (as compose resolved it), engine, k6, host cores."""
    front_end = compose.config()["services"]["nginx"]
    return {
        "base_image": front_end["build"]["args"]["BASE_IMAGE"],
        "docker_engine": client.version().get("Version"),
        "k6": k6.version(),
        "host_cpus": os.cpu_count(),
    }


def run(opts: BenchOptions, out=lambda line: print(line, flush=True)) -> dict:
    """Run every level of ``opts`` and write the results under ``opts.results_dir``.

    Returns:
        the bench record (what ``bench.json`` holds): options, configurations as found
        running, and one entry per level with its result, expectation and verdict.

    A configuration that is not running or not answering, and a level that fails
    (k6 error, no drain, unreadable summary), become ``error`` entries; the bench goes
    on. An interrupt (Ctrl-C) ends it with ``status: interrupted``; either way
    ``bench.json`` and the report keep every level gathered.
    """
    opts.results_dir.mkdir(parents=True, exist_ok=True)
    client = docker.from_env()
    recorder = Recorder(opts.results_dir / "bench.json", opts, client)
    levels = opts.levels()
    per_level_s = opts.duration_s + LEVEL_OVERHEAD_S
    out(f"bench: {len(opts.services)} configurations x {len(opts.vus)} levels "
        f"({', '.join(map(str, opts.vus))} VUs), {opts.duration_s} s each "
        f"({opts.warmup_s} s warm-up), requests waiting {opts.io_ms} ms on I/O; "
        f"about {_fmt_duration(len(levels) * per_level_s)}")
    out(f"results: {opts.results_dir}")
    spent, timed = 0.0, 0  # seconds in, and number of, levels that ran: for time left
    status = "failed"
    try:
        configs = {}
        for index, (service, vus) in enumerate(levels, 1):
            if service not in configs:
                try:
                    configs[service] = topology.discover(service, opts.base_url, client)
                except (LookupError, ConnectionError, UnknownServer) as exc:
                    configs[service] = exc
                    out(f"{service}: cannot be measured: {exc}")
                else:
                    cfg = configs[service]
                    recorder.data["configurations"][service] = cfg.to_dict()
                    out(f"{service}: {' '.join(cfg.command)}  |  {cfg.limits.describe()}  |  "
                        f"cap {cfg.capacity.formula}")
            if isinstance(configs[service], Exception):
                # Its other levels cannot run either; the rest of the bench still does.
                recorder.data["levels"].append(_error_entry(service, vus, configs[service]))
                recorder.save()
                continue
            left = (len(levels) - index + 1) * (spent / timed if timed else per_level_s)
            out(f"  [{index:>2}/{len(levels)}] {service} at {vus} VUs for {opts.duration_s} s"
                f" (about {_fmt_duration(left)} left)")
            level_started = time.monotonic()
            entry = _run_level(opts, configs[service], vus, client)
            if entry["result"] is not None:
                spent += time.monotonic() - level_started
                timed += 1
            recorder.data["levels"].append(entry)
            recorder.save()
            out("         " + _level_line(entry))
        status = "complete"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        recorder.data["status"] = status
        recorder.data["finished"] = _now()
        recorder.save()
        if recorder.data["levels"]:
            report.write(recorder.data, opts.results_dir)
        _link_latest(opts.results_dir)
    return recorder.data


def _error_entry(service: str, vus: int, error: Exception) -> dict:
    return {"service": service, "vus": vus, "summary": None, "expected": None,
            "result": None, "verdict": "error", "problems": [f"{type(error).__name__}: {error}"]}


def _run_level(opts: BenchOptions, cfg: topology.Configuration, vus: int, client) -> dict:
    """Run one level; errors become part of the entry instead of ending the bench."""
    service_dir = opts.results_dir / cfg.service
    service_dir.mkdir(exist_ok=True)
    stem = f"vus-{vus:03d}"
    summary_path = service_dir / f"{stem}.summary.json"
    expectation = expect(cfg.capacity, vus)
    entry = {
        "service": cfg.service,
        "vus": vus,
        "summary": str(summary_path.relative_to(opts.results_dir)),
        "expected": {**asdict(expectation), "min_peak": expectation.min_peak,
                     "min_little": expectation.min_little, "max_little": expectation.max_little},
        "result": None,
        "verdict": "error",
        "problems": [],
    }
    try:
        topology.wait_drained(cfg.service, opts.base_url, timeout_s=DRAIN_TIMEOUT_S)
        container = topology.container(cfg.service, client)
        before = _cpu_snapshot(container)
        k6_run = k6.run(
            "io.js",
            params={
                "BASE_URL": opts.base_url, "SERVICE": cfg.service, "VUS": str(vus),
                "DURATION_S": str(opts.duration_s), "WARMUP_S": str(opts.warmup_s),
                "IO_MS": str(opts.io_ms), "GRACEFUL_STOP_S": str(opts.graceful_stop_s),
                "SUMMARY_PATH": str(summary_path),
            },
            log_path=service_dir / f"{stem}.k6.log",
            raw_path=service_dir / f"{stem}.raw.json.gz" if opts.raw else None,
            cpus=set(opts.load_cpus),
            timeout_s=opts.duration_s + opts.graceful_stop_s + 60,
        )
        after = _cpu_snapshot(container)
        result: LevelResult = read_summary(summary_path)
    except (k6.K6Error, SummaryError, OSError, TimeoutError, LookupError, ConnectionError) as exc:
        entry["problems"] = [f"{type(exc).__name__}: {exc}"]
        return entry
    entry["result"] = result.to_dict()
    entry["load"] = {
        "k6_wall_s": k6_run.wall_s,
        "k6_cpu_s": k6_run.cpu_s,
        "k6_cpu_fraction": k6_run.cpu_s / k6_run.wall_s,
        "app_cpu_s": (after["cpu_ns"] - before["cpu_ns"]) / 1e9,
        "app_cpu_fraction": (after["cpu_ns"] - before["cpu_ns"]) / 1e9 / k6_run.wall_s,
        "app_throttled_periods": after["throttled_periods"] - before["throttled_periods"],
        "app_memory_max_bytes": after["memory_max_bytes"],
    }
    entry["problems"] = judge(expectation, result.server_peak, result.little_inflight,
                              result.failures)
    entry["verdict"] = "FAIL" if entry["problems"] else "pass"
    return entry


def _level_line(entry: dict) -> str:
    res = entry["result"]
    if res is None:
        return f"error: {'; '.join(entry['problems'])}"
    exp = entry["expected"]
    line = (f"{res['throughput_rps']:.1f} req/s, p50 {res['latency_p50_ms']:.0f} ms, "
            f"Little {res['little_inflight']:.2f}, peak {res['server_peak']} "
            f"(expected {exp['inflight']}{'' if exp['server_bound'] else ', client-bound'})"
            f"  {entry['verdict']}")
    if entry["problems"]:
        line += "\n           " + "\n           ".join(entry["problems"])
    return line


def _link_latest(results_dir: Path) -> None:
    latest = results_dir.parent / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(results_dir.name)
    except OSError:
        pass  # a convenience only
