"""One level, measured: k6 against a configuration through the front end, the containers'
CPU over the steady window, the backend's own count, the instrument's per-process figures,
and the workload's checks, into one ``LevelRecord``.

A level's errors (k6 failed, no drain, an unreadable summary, a backend that could not be
read) become part of its record instead of ending the run. A level whose load cores were
busier than ``loadside.LOAD_CORES_BUSY_MAX`` beside the app is ``instrument-bound``: its
figures are the load side's, not the server's.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from wsgilab import workloads
from wsgilab.lab import k6, loadside
from wsgilab.lab.probe import Probe
from wsgilab.model import interpreters, merge, segments
from wsgilab.model.facts import Configuration
from wsgilab.model.levels import Level, Variant, cpuset_cores
from wsgilab.model.record import ERROR, FAIL, INSTRUMENT_BOUND, PASS, LevelRecord
from wsgilab.model.results import SummaryError, read_summary
from wsgilab.model.theory import Check
from wsgilab.workloads.base import ObserverError

#: Seconds to wait for a configuration to report zero requests in flight before a level.
DRAIN_TIMEOUT_S = 60.0
#: The front end's service name (docker-compose.yml).
FRONT_END = "nginx"
#: Seconds from starting k6 to its first scenario's start (process start, script init, the
#: setup() health probe), to place the CPU samples inside the steady window.
K6_START_S = 0.5
#: Seconds kept clear of each end of the steady window when sampling CPU, for the
#: uncertainty of K6_START_S and the time a stats call takes.
SAMPLE_MARGIN_S = 0.25
#: The most seconds k6 waits for in-flight requests after a level (its gracefulStop).
#: Every VU queued on a one-at-a-time server is the slowest drain (the default plan's worst:
#: 40 VUs x 250 ms = 10 s); the ceiling scenario's 2,000 VUs x 2 s would ask 4,000 s, which
#: only a server that holds them all at once could need, and that one drains in 2 s. What is
#: still in flight after this is interrupted and left out of the figures: a level stays
#: bounded in time.
MAX_GRACEFUL_STOP_S = 120


@dataclass(frozen=True)
class Pace:
    """How every level of a run is run. Durations in seconds.

    Attributes:
        duration_s: length of each level phase; warmup_s: its start, left out.
        load_cpus: cores k6 is pinned to.
        raw: keep every k6 sample (``--out json``, gzip); an open level writes them anyway
            (its send times), and drops them after unless this is set.
        limits: the run's own limits (``--limits``, ``--python``), applied to every level
            beneath the level's own variant.
        load_instances: k6 processes each level is split across (``segments.parts``),
            their raw samples merged into its figures (``merge.merge``); 1: one k6.
    """

    duration_s: int = 5
    warmup_s: int = 1
    load_cpus: frozenset[int] = frozenset({0})
    raw: bool = True
    limits: Variant = field(default_factory=Variant)
    load_instances: int = 1

    def graceful_stop_s(self, level: Level) -> int:
        """How long (seconds) k6 lets in-flight requests finish after ``level``: enough for
        the slowest case, every VU queued on a one-at-a-time server, plus 5 s, and never
        more than MAX_GRACEFUL_STOP_S."""
        per_request_ms = max((v for k, v in level.params if k.endswith("_ms")), default=0)
        return min((level.vus * int(per_request_ms)) // 1000 + 5, MAX_GRACEFUL_STOP_S)

    def seconds(self, level: Level) -> int:
        """The level's k6 time, its phases' (``Workload.phases``)."""
        return self.duration_s * workloads.get(level.workload).phases


class WindowSampler(threading.Thread):
    """Snapshots containers at the start and at the end of a level's steady window while
    k6 runs, so that their CPU is measured over the window, not over k6's start and drain.
    With the host's per-core CPU time, so that what everything else ran on the measured
    container's cores is known too.

    Args:
        probe: where the containers' counters are read: each one's agent over HTTP
            (``Probe.counters``), outside the server's own concurrency.
        services: the services by the name their figures get (``app``, ``nginx``).
        start_at, end_at: ``time.monotonic()`` instants of the two snapshots.
        app_cores: the cores of the ``app`` container's cpuset.
        load_cores: the cores k6 runs on (with nginx and the engine).
    """

    def __init__(self, probe: Probe, services: dict[str, str], start_at: float, end_at: float,
                 app_cores: frozenset[int] = frozenset(),
                 load_cores: frozenset[int] = frozenset()) -> None:
        super().__init__(daemon=True)
        self.probe, self.services, self.start_at, self.end_at = probe, services, start_at, end_at
        self.app_cores, self.load_cores = app_cores, load_cores
        # (instant, the services' snapshots, the host's per-core times)
        self.samples: list[tuple[float, dict, list[tuple[float, float, float]]]] = []

    def run(self) -> None:
        for instant in (self.start_at, self.end_at):
            time.sleep(max(0.0, instant - time.monotonic()))
            taken = time.monotonic()
            try:
                cores = loadside.core_times()
                snaps = {n: self.probe.counters(s) for n, s in self.services.items()}
            except ConnectionError:  # a container went away: the level reports no CPU figures
                return
            self.samples.append((taken, snaps, cores))

    def figures(self) -> dict:
        """``<name>_cpu_fraction`` (CPUs used over the window), ``<name>_throttled_periods``,
        ``<name>_memory_bytes``, ``<name>_memory_max_bytes`` and ``<name>_pids``;
        ``app_cores_busy_cpus``, the CPUs every process on the host kept busy on the app's
        cores (the app's own included); ``load_cores_busy``, the load cores' busy fraction
        less the app's share of them (``loadside.load_side_busy``); {} if a sample is
        missing."""
        self.join(timeout=30)
        if len(self.samples) != 2:
            return {}
        (t0, before, cores0), (t1, after, cores1) = self.samples
        values = {"window_sampled_s": t1 - t0}
        app_busy = loadside.busy_on(self.app_cores, cores0, cores1)
        if app_busy is not None:
            values["app_cores_busy_cpus"] = app_busy
        load_busy = loadside.busy_on(self.load_cores, cores0, cores1)
        steal = loadside.busy_on(self.load_cores, cores0, cores1, index=2)
        if steal is not None:
            values["load_cores_steal"] = steal / len(self.load_cores)
        if load_busy is not None and "app" in self.services:
            app = after["app"].cpus_since(before["app"], t1 - t0)
            values["load_cores_busy"] = loadside.load_side_busy(
                load_busy, self.load_cores, self.app_cores, app)
        for name in self.services:
            a, b = before[name], after[name]
            values[f"{name}_cpu_fraction"] = b.cpus_since(a, t1 - t0)
            values[f"{name}_throttled_periods"] = b.throttled_periods - a.throttled_periods
            values[f"{name}_memory_bytes"] = b.memory_bytes
            values[f"{name}_memory_max_bytes"] = b.memory_max_bytes
            values[f"{name}_pids"] = b.pids
        return values


def measure_level(level: Level, cfg: Configuration, *, pace: Pace, directory: Path,
                  probe: Probe, containers: tuple[str, ...] = ()) -> LevelRecord:
    """Run one level against ``cfg`` and return its record; errors become part of it.

    Args:
        level: what to run; cfg: the configuration as read back before it.
        pace: durations, load cores, raw samples, the run's own limits.
        directory: the run's folder; the level's files go to ``<configuration>/<slug>.*``.
        probe: the configuration's instrument (drain, per-process counts), and every
            container's agent (CPU, memory, tasks; the workload's backend).
        containers: services whose CPU is recorded over the window besides the
            workload's own (``Workload.containers``): an app's backends.
    """
    workload = workloads.get(level.workload)
    service_dir = directory / level.configuration
    service_dir.mkdir(parents=True, exist_ok=True)
    summary_path = service_dir / f"{level.slug}.summary.json"
    entry = LevelRecord(level, configuration=cfg,
                        summary=str(summary_path.relative_to(directory)))
    graceful = pace.graceful_stop_s(level)
    try:
        entry.backend = workload.backend(probe) if workload.backend else {}
        facts = cfg.facts(entry.backend)
        entry.checks = workload.expect(facts, level)
        probe.wait_drained(level.configuration, timeout_s=DRAIN_TIMEOUT_S)
        served_before = probe.health(level.configuration)["served_by_pid"]
        services = {"app": level.configuration, "nginx": FRONT_END,
                    **{name: name for name in dict.fromkeys(workload.containers + containers)}}
        # The steady window of the level's last phase, in seconds after k6 starts.
        window = ((workload.phases - 1) * pace.duration_s + pace.warmup_s,
                  workload.phases * pace.duration_s)
        now = time.monotonic() + K6_START_S
        cores = cpuset_cores(cfg.limits.cpuset) if cfg.limits.cpuset else frozenset()
        sampler = WindowSampler(probe, services, now + window[0] + SAMPLE_MARGIN_S,
                                now + window[1] - SAMPLE_MARGIN_S, cores, frozenset(pace.load_cpus))
        sampler.start()
        observer = (workload.observer(probe,
                                     K6_START_S + workload.phases * pace.duration_s)
                    if workload.observer else None)
        if observer:
            observer.start()
        params = {
            "BASE_URL": probe.base_url, "SERVICE": level.configuration,
            "DURATION_S": str(pace.duration_s), **level.load.k6_env(),
            "WARMUP_S": str(pace.warmup_s), "GRACEFUL_STOP_S": str(graceful),
            "SUMMARY_PATH": str(summary_path), **workload.k6_env(level),
        }
        timeout_s = pace.duration_s * workload.phases + graceful + 60
        if pace.load_instances > 1:
            # Each instance its execution segment; the level is the union of their samples.
            names = [f"{level.slug}.k6-{i}" for i in range(1, pace.load_instances + 1)]
            raw_paths = [service_dir / f"{n}.raw.json.gz" for n in names]
            summaries = [service_dir / f"{n}.summary.json" for n in names]
            instances = k6.run_split(workload.script, params, segments.parts(pace.load_instances),
                                     [service_dir / f"{n}.k6.log" for n in names], raw_paths,
                                     summaries, cpus=set(pace.load_cpus), timeout_s=timeout_s)
            result = merge.merge(raw_paths, merge.same_params(summaries))
            entry.summary = str(summaries[0].relative_to(directory))
            k6_run = k6.K6Run(max(i.wall_s for i in instances), sum(i.cpu_s for i in instances))
        else:
            # An open level's raw output holds its send times (loadside.arrival_stats).
            raw_paths = ([service_dir / f"{level.slug}.raw.json.gz"]
                         if pace.raw or not level.closed else [])
            k6_run = k6.run(workload.script, params=params,
                            log_path=service_dir / f"{level.slug}.k6.log",
                            raw_path=raw_paths[0] if raw_paths else None,
                            cpus=set(pace.load_cpus), timeout_s=timeout_s)
            instances = []
            result = read_summary(summary_path)
        observed = observer.figures() if observer else {}
        if not level.closed:
            observed.update(loadside.arrival_stats(
                raw_paths, (workload.phases - 1) * pace.duration_s + pace.warmup_s,
                workload.phases * pace.duration_s))
        if not pace.raw:
            for raw in raw_paths:
                raw.unlink(missing_ok=True)
        after = probe.health(level.configuration)
        served_after = after["served_by_pid"]
    except (k6.K6Error, SummaryError, OSError, TimeoutError, LookupError, ConnectionError,
            ObserverError) as exc:
        entry.problems = [f"{type(exc).__name__}: {exc}"]
        return entry
    entry.result = result
    # k6's CPU over its whole life (a pessimistic figure for the 80% rule); the containers'
    # over the steady window; the backend's own count, if the workload has an observer.
    entry.usage = {"k6_wall_s": k6_run.wall_s, "k6_cpu_s": k6_run.cpu_s,
                   "k6_cpu_fraction": k6_run.cpu_s / k6_run.wall_s, **sampler.figures(),
                   **observed}
    if instances:  # each k6 instance's own CPU, beside their sum
        entry.usage["k6_instances"] = [{"wall_s": i.wall_s, "cpu_s": i.cpu_s} for i in instances]
    if not cfg.capacity.forks_per_request:  # a forking server's processes live one request
        entry.usage.update(spread(served_before, served_after, cfg.settings.get("master_pid")))
    return judge(entry, facts, after.get("processes") or {},
                 level.variant.over(pace.limits).python)


def judge(entry: LevelRecord, facts, processes: dict, python: str | None) -> LevelRecord:
    """A measured level's figures from its result and usage, its checks and its status.

    Args:
        entry: the level with ``result`` and ``usage`` set, ``checks`` the workload's.
        facts: the configuration's facts (``Configuration.facts``).
        processes: the instrument's per-process facts after the level.
        python: the interpreter the level ran on (None: the base image's).
    """
    level = entry.level
    workload = workloads.get(level.workload)
    entry.figures = workload.level_figures(entry.result, entry.usage, level, facts)
    for name in ("load_cores_busy", "interarrival_cv", "arrivals_sent"):
        if entry.usage.get(name) is not None:
            entry.figures[name] = entry.usage[name]
    memory = worker_memory(processes)
    if memory:
        entry.figures["worker_pss_mib"] = memory
    gil = gil_check(python, processes)
    if gil:
        entry.checks.append(gil[0])
        entry.figures[gil[0].figure] = gil[1]
    entry.problems = [p for c in entry.checks if (p := c.problem(entry.figures.get(c.figure)))]
    entry.status = FAIL if entry.problems else PASS
    busy = entry.usage.get("load_cores_busy")
    if busy is not None and busy > loadside.LOAD_CORES_BUSY_MAX:
        entry.status = INSTRUMENT_BOUND
        entry.problems.insert(0, f"instrument-bound: the load cores were {busy:.0%} busy beside "
                                 f"the app (LOAD_CORES_BUSY_MAX {loadside.LOAD_CORES_BUSY_MAX:.0%}): "
                                 "these figures are the load side's, not the server's")
    return entry


def worker_memory(processes: dict) -> float | None:
    """The mean proportional set size (PSS, MiB) of the processes that loaded the app, read
    after the level: what one more worker of this configuration holds, shared pages
    divided among those that map them (``labinstrument.processes.memory``). None when no
    process reported its memory."""
    sizes = [p["memory"]["pss_bytes"] for p in processes.values()
             if (p.get("memory") or {}).get("pss_bytes")]
    return sum(sizes) / len(sizes) / 2**20 if sizes else None


def gil_check(python: str | None, processes: dict) -> tuple[Check, int] | None:
    """On a free-threaded interpreter: the check that the GIL stayed off in every process
    that served (an extension that does not declare free-threading support turns it back
    on when imported, and the level would measure a GIL build by mistake), and the count
    of processes where it is on. None on a build with a GIL.

    Args:
        python: the level's interpreter (``Variant.python``); processes: the health
            answer's ``processes``, by pid, after the level.
    """
    if python is None or not interpreters.get(python).free_threaded:
        return None
    enabled = {pid: p for pid, p in processes.items() if p.get("gil_enabled", True)}
    modules = sorted({m for p in enabled.values() for m in p.get("gil_enabled_by", ())})
    rule = (f"the GIL off in every process of a free-threaded build; turned on by importing "
            f"{', '.join(modules)}" if modules else
            "the GIL off in every process of a free-threaded build (sys._is_gil_enabled())")
    return Check("gil", "gil_enabled_processes", 0, 0, rule), len(enabled)


def spread(before: dict, after: dict, master_pid: int | None = None) -> dict:
    """How a level's requests spread over the server's processes: ``served_by_worker``
    (requests each process entered during the level, most first), ``served_top_share``
    (the busiest one's share; None with a single process) and ``served_by_master``
    (requests the server's master process entered itself; None when the server reports no
    master pid). Pids are keys as the health endpoint reports them (JSON: strings)."""
    served = sorted((n - before.get(pid, 0) for pid, n in after.items()
                     if n - before.get(pid, 0) > 0), reverse=True)
    total = sum(served)
    master = None
    if master_pid is not None:
        key = str(master_pid)
        master = after.get(key, 0) - before.get(key, 0)
    return {"served_by_worker": served,
            "served_top_share": served[0] / total if len(served) > 1 else None,
            "served_by_master": master}


def level_line(entry: LevelRecord) -> str:
    """One line per level for the terminal: the main figures and the verdict."""
    if entry.status == ERROR:
        return f"error: {'; '.join(entry.problems)}"
    f = entry.figures
    peak = next((c for c in entry.checks if c.name == "peak"), None)
    line = (f"{f['throughput_rps']:.1f} req/s, p50 {f['latency_p50_ms']:.0f} ms, "
            f"p95 {f['latency_p95_ms']:.0f} ms, Little {f['little_inflight']:.2f}, "
            f"peak {f['server_peak']}" + (f" (expected {peak.expected()})" if peak else ""))
    for column in workloads.get(entry.level.workload).columns:
        value = f.get(column.figure)
        if value is not None:
            line += f", {column.header} {column.fmt.format(value)}"
    line += f"  {entry.status}"
    if entry.problems:
        line += "\n           " + "\n           ".join(entry.problems)
    return line
