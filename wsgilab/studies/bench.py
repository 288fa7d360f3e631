"""Run the bench: every level of the plan, one at a time, with progress.

A level is (configuration, workload, load), sometimes under a variant (other limits, or
another value of a setting the configuration's command reads from a variable); the run's
own ``--limits`` apply to every level as a variant beneath the level's. Levels of one
configuration and variant run together; before them the bench recreates the
configuration's container with that variant and reads back what runs (limits through the
Docker SDK, settings and container facts from ``/healthz``). At the end every container
it changed is put back as declared.

Each level's k6 summary is written as soon as the level ends, and ``bench.json`` is
rewritten after every level, so a run that fails or is interrupted keeps what it gathered.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import threading
import time
from pathlib import Path

import docker
import psutil

from wsgilab import workloads
from wsgilab.lab import compose, k6, loadside, pythons, topology
from wsgilab.lab.compose import ComposeError
from wsgilab.lab.session import DockerEngine, Drift, Interrupted, LabSession
from wsgilab.model.facts import Configuration
from wsgilab.model.levels import Level, Variant, cpuset_cores
from wsgilab.model.record import ERROR, FAIL, INSTRUMENT_BOUND, PASS, BenchRecord, LevelRecord
from wsgilab.model.results import SummaryError, read_summary
from wsgilab.model.theory import Check, UnknownServer
from wsgilab.studies.options import BenchOptions, OptionError, check_rates
from wsgilab.workloads.base import ObserverError

#: Seconds a level needs besides its duration (k6 start, health probes, container stats),
#: for the time-left estimate before the first level has been timed.
LEVEL_OVERHEAD_S = 2.0
#: Seconds a recreation of a container under a variant takes, for the estimate.
RECREATE_ESTIMATE_S = 4.0
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


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def fmt_duration(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``9`` -> ``9s``."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _snapshot(container) -> dict:
    """CPU time (ns), CFS throttling and memory of a container, from the Docker SDK."""
    stats = container.stats(stream=False, one_shot=True)
    cpu = stats["cpu_stats"]
    memory = stats.get("memory_stats", {})
    return {
        "cpu_ns": cpu["cpu_usage"]["total_usage"],
        "throttled_periods": cpu.get("throttling_data", {}).get("throttled_periods", 0),
        "memory_bytes": memory.get("usage", 0),
        "memory_max_bytes": memory.get("max_usage", 0),
        "pids": stats.get("pids_stats", {}).get("current", 0),
    }


def _core_times() -> list[tuple[float, float, float]]:
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


class WindowSampler(threading.Thread):
    """Snapshots containers at the start and at the end of a level's steady window while
    k6 runs, so that their CPU is measured over the window, not over k6's start and drain.
    With the host's per-core CPU time, so that what everything else ran on the measured
    container's cores is known too.

    Args:
        containers: Docker SDK containers by the name their figures get (``app``, ``nginx``).
        start_at, end_at: ``time.monotonic()`` instants of the two snapshots.
        app_cores: the cores of the ``app`` container's cpuset.
        load_cores: the cores k6 runs on (with nginx and the engine).
    """

    def __init__(self, containers: dict, start_at: float, end_at: float,
                 app_cores: frozenset[int] = frozenset(),
                 load_cores: frozenset[int] = frozenset()) -> None:
        super().__init__(daemon=True)
        self.containers, self.start_at, self.end_at = containers, start_at, end_at
        self.app_cores, self.load_cores = app_cores, load_cores
        # (instant, containers' snapshots, the host's per-core times)
        self.samples: list[tuple[float, dict, list[tuple[float, float]]]] = []

    def run(self) -> None:
        for instant in (self.start_at, self.end_at):
            time.sleep(max(0.0, instant - time.monotonic()))
            taken = time.monotonic()
            try:
                cores = _core_times()
                self.samples.append((taken, {n: _snapshot(c) for n, c in self.containers.items()},
                                     cores))
            except Exception:  # the container went away: the level reports no CPU figures
                return

    def figures(self) -> dict:
        """``<name>_cpu_fraction`` (CPUs used over the window), ``<name>_throttled_periods``,
        ``<name>_memory_bytes`` and ``<name>_memory_max_bytes``; ``app_cores_busy_cpus``,
        the CPUs every process on the host kept busy on the app's cores (the app's own
        included); ``load_cores_busy``, the load cores' busy fraction less the app's share
        of them (``loadside.load_side_busy``); {} if a sample is missing."""
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
        if load_busy is not None and "app" in self.containers:
            app = (after["app"]["cpu_ns"] - before["app"]["cpu_ns"]) / 1e9 / (t1 - t0)
            values["load_cores_busy"] = loadside.load_side_busy(
                load_busy, self.load_cores, self.app_cores, app)
        for name in self.containers:
            a, b = before[name], after[name]
            values[f"{name}_cpu_fraction"] = (b["cpu_ns"] - a["cpu_ns"]) / 1e9 / (t1 - t0)
            values[f"{name}_throttled_periods"] = b["throttled_periods"] - a["throttled_periods"]
            values[f"{name}_memory_bytes"] = b["memory_bytes"]
            values[f"{name}_memory_max_bytes"] = b["memory_max_bytes"]
            values[f"{name}_pids"] = b["pids"]
        return values


def environment(client: docker.DockerClient) -> dict:
    """Where the bench runs: base image, engine, cgroup version, k6, host, date."""
    import gevent

    front_end = compose.config()["services"][FRONT_END]
    info = client.info()
    return {
        # The seed blog's gevent.monkey_patch(): checked on the gevent the images pin.
        "gevent_version": gevent.__version__,
        "gevent_has_monkey_patch": hasattr(gevent, "monkey_patch"),
        "base_image": front_end["build"]["args"]["BASE_IMAGE"],
        "docker_engine": client.version().get("Version"),
        "cgroup_version": info.get("CgroupVersion"),
        "kernel": info.get("KernelVersion"),
        "k6": k6.version(),
        "host_cpus": os.cpu_count(),
        "host_memory_bytes": info.get("MemTotal"),
        "host_python": platform.python_version(),
    }


def estimate_s(opts: BenchOptions, levels: list[Level]) -> float:
    """Seconds ``levels`` should take: their phases, overhead and recreations."""
    total = 0.0
    groups = {(lv.configuration, lv.variant) for lv in levels}
    total += sum(1 for _, variant in groups if variant) * 2 * RECREATE_ESTIMATE_S
    for level in levels:
        total += opts.duration_s * workloads.get(level.workload).phases + LEVEL_OVERHEAD_S
    return total


def grouped(plan: tuple[Level, ...]) -> list[Level]:
    """The plan with the levels of one configuration and variant next to each other, in
    order of first appearance, so that each container is recreated once per variant (and
    repeat: repeats keep their own shuffled order)."""
    groups: dict[tuple[int, str, Variant], list[Level]] = {}
    for level in plan:
        groups.setdefault((level.repeat, level.configuration, level.variant), []).append(level)
    return [level for group in groups.values() for level in group]


def run(opts: BenchOptions, out=lambda line: print(line, flush=True)) -> BenchRecord:
    """Run every level of ``opts.plan`` and write its record, ``opts.results_dir``/bench.json.

    The lab is owned by a ``LabSession`` for the whole run: it starts by putting every
    service back as declared, applies each level's variant, keeps the other configurations
    off a CPU-bound level's cores, reads each container back before its level, and puts
    everything back on the way out. Rendering the report is a separate step
    (``wsgilab.report.write``).

    Returns:
        the bench record (what ``bench.json`` holds).

    A configuration that cannot be started under a variant, is not running or does not
    answer, and a level that fails (k6 error, no drain, unreadable summary, a container
    that differs from its declaration), become ``error`` entries; the bench goes on.
    ``bench.json`` is rewritten after every level, so a run that fails or is interrupted
    keeps what it gathered; its status says how it ended.

    Raises:
        KeyboardInterrupt, session.Interrupted: Ctrl-C, SIGTERM or SIGHUP, after the
            record is saved and the lab put back.
        compose.ComposeError, session.Drift: the lab could not be started as declared.
    """
    opts.results_dir.mkdir(parents=True, exist_ok=True)
    client = docker.from_env()
    record = BenchRecord(started=_now(), options=opts.to_dict(), environment=environment(client),
                         roles=compose.roles())
    prepare_pythons(record, {lv.variant.over(opts.limits).python for lv in opts.plan}, out)
    record.save(opts.results_dir / "bench.json")
    plan = grouped(opts.plan)
    base = opts.limits
    out(f"bench: {len(plan)} levels ({', '.join(opts.workloads)}) over "
        f"{len({lv.configuration for lv in plan})} configurations, {opts.duration_s} s per phase "
        f"({opts.warmup_s} s warm-up); about {fmt_duration(estimate_s(opts, plan))}")
    out(f"limits: {base.describe() if base else 'as declared in compose/app.yml'}; "
        f"results: {opts.results_dir}")
    edge = str(compose.config()["services"][FRONT_END]["cpuset"])
    lab = LabSession(DockerEngine(client), out, edge_cpuset=edge)
    found: dict[tuple[str, Variant], Configuration | Exception] = {}
    started = time.monotonic()
    record.status = "failed"
    try:
        with lab:
            record.environment["reconciled"] = lab.reconciled
            rates = [lv.load.rate_rps for lv in plan if not lv.closed]
            if rates:  # what the load side can offer, measured before any open level
                calibration = loadside.calibrate(opts.results_dir, opts.base_url,
                                                   opts.load_cpus, out)
                loadside.keep(calibration)
                record.instrument = calibration.to_dict()
                try:
                    check_rates(rates, calibration)
                except OptionError as exc:
                    raise loadside.LoadSideError(str(exc)) from None
            for index, level in enumerate(plan, 1):
                variant = level.variant.over(base)
                key = (level.configuration, variant)
                workload = workloads.get(level.workload)
                lab.isolate(level.configuration, others=workload.isolated)
                if key not in found:
                    found[key] = _prepare(lab, level.configuration, variant, opts, client, out)
                cfg = found[key]
                if isinstance(cfg, Exception):
                    record.levels.append(LevelRecord(level, problems=[f"{type(cfg).__name__}: {cfg}"]))
                    record.save()
                    continue
                elapsed = time.monotonic() - started
                left = estimate_s(opts, plan[index - 1:])
                if index > 1:  # scale the estimate by how the levels so far compared with theirs
                    left *= elapsed / max(1.0, estimate_s(opts, plan[:index - 1]))
                out(f"  [{index:>2}/{len(plan)}] {level.describe()} for "
                    f"{opts.duration_s * workload.phases} s "
                    f"(about {fmt_duration(left)} left)")
                try:
                    lab.verify(level.configuration, variant)
                except Drift as exc:
                    entry = LevelRecord(level, configuration=cfg, problems=[f"Drift: {exc}"])
                else:
                    entry = run_level(opts, level, cfg, client)
                if entry.usage is not None:
                    entry.usage["others_moved_off_its_cores"] = len(lab.moved)
                if workload.restart_after and workload.restart_after(level):
                    out(f"         {level.configuration}: restarted, dropping what the level left "
                        "in its processes")
                    _restart(level.configuration, opts, client)
                record.levels.append(entry)
                record.save()
                out("         " + level_line(entry))
            record.status = "complete"
    except KeyboardInterrupt:
        record.status = "interrupted (SIGINT)"
        raise
    except Interrupted as exc:
        record.status = f"interrupted ({exc})"
        raise
    finally:
        record.environment["restored"] = lab.restored
        record.finished = _now()
        record.save()
        _link_latest(opts.results_dir)
    return record


def prepare_pythons(record: BenchRecord, names: set[str | None], out) -> None:
    """Build what the interpreters ``names`` (None: the base image's) lack, cached: image
    builds before any level, not the levels' time; and record what each staged
    (``BenchRecord.pythons``).

    Raises:
        ComposeError: an interpreter or its app image could not be built.
    """
    names = sorted(names - {None})
    if not names:
        return
    try:
        pythons.prepare(names, out)
    except (subprocess.CalledProcessError, pythons.PythonNotBuilt) as exc:
        raise ComposeError(f"Python {', '.join(names)} could not be prepared: {exc}") from None
    for name in names:
        record.pythons[name] = pythons.staged_facts(pythons.get(name))


def _prepare(lab: LabSession, service: str, variant: Variant, opts: BenchOptions, client, out):
    """Make ``service`` run with ``variant`` and read its facts; an exception if it cannot."""
    try:
        if lab.apply(service, variant):
            out(f"{service}: recreated with {variant.describe()}")
        topology.wait_idle(topology.container(service, client))
        cfg = topology.discover(service, opts.base_url, client)
        mismatch = python_mismatch(variant.python, cfg.runtime)
        if mismatch:
            raise LookupError(f"{service} {mismatch}")
    except (ComposeError, LookupError, ConnectionError, UnknownServer, TimeoutError) as exc:
        out(f"{service} ({variant.describe()}): cannot be measured: {exc}")
        return exc
    out(f"{service}: {' '.join(cfg.command)}  |  {cfg.limits.describe()}  |  "
        f"cap {cfg.capacity.formula}")
    return cfg


def _restart(service: str, opts: BenchOptions, client) -> None:
    """Restart ``service``'s container (its limits and settings unchanged) and wait until it
    answers again; a failure shows in the next level that needs it."""
    try:
        topology.container(service, client).restart(timeout=10)
        topology.wait_reachable(service, opts.base_url, timeout_s=compose.RECREATE_TIMEOUT_S)
        topology.wait_idle(topology.container(service, client))
    except (LookupError, ConnectionError, TimeoutError, docker.errors.APIError):
        pass


def run_level(opts: BenchOptions, level: Level, cfg: Configuration,
              client, containers: tuple[str, ...] = ()) -> LevelRecord:
    """Run one level; errors become part of the record instead of ending the bench.

    Args:
        containers: services whose CPU is recorded over the window besides the
            workload's own (``Workload.containers``): an app's backends.
    """
    workload = workloads.get(level.workload)
    service_dir = opts.results_dir / level.configuration
    service_dir.mkdir(exist_ok=True)
    summary_path = service_dir / f"{level.slug}.summary.json"
    entry = LevelRecord(level, configuration=cfg,
                        summary=str(summary_path.relative_to(opts.results_dir)))
    graceful = opts.graceful_stop_s(level)
    try:
        entry.backend = workload.backend(client) if workload.backend else {}
        facts = cfg.facts(entry.backend)
        entry.checks = workload.expect(facts, level)
        topology.wait_drained(level.configuration, opts.base_url, timeout_s=DRAIN_TIMEOUT_S)
        served_before = topology.health(level.configuration, opts.base_url)["served_by_pid"]
        containers = {"app": topology.container(level.configuration, client),
                      "nginx": topology.container(FRONT_END, client),
                      **{name: topology.container(name, client)
                         for name in dict.fromkeys(workload.containers + containers)}}
        # The steady window of the level's last phase, in seconds after k6 starts.
        window = ((workload.phases - 1) * opts.duration_s + opts.warmup_s,
                  workload.phases * opts.duration_s)
        now = time.monotonic() + K6_START_S
        cores = cpuset_cores(cfg.limits.cpuset) if cfg.limits.cpuset else frozenset()
        sampler = WindowSampler(containers, now + window[0] + SAMPLE_MARGIN_S,
                                now + window[1] - SAMPLE_MARGIN_S, cores,
                                frozenset(opts.load_cpus))
        sampler.start()
        observer = (workload.observer(client, K6_START_S + workload.phases * opts.duration_s)
                    if workload.observer else None)
        if observer:
            observer.start()
        # An open level's raw output holds its send times (loadside.arrival_stats).
        raw_path = (service_dir / f"{level.slug}.raw.json.gz"
                    if opts.raw or not level.closed else None)
        k6_run = k6.run(
            workload.script,
            params={
                "BASE_URL": opts.base_url, "SERVICE": level.configuration,
                "DURATION_S": str(opts.duration_s), **level.load.k6_env(),
                "WARMUP_S": str(opts.warmup_s), "GRACEFUL_STOP_S": str(graceful),
                "SUMMARY_PATH": str(summary_path), **workload.k6_env(level),
            },
            log_path=service_dir / f"{level.slug}.k6.log",
            raw_path=raw_path,
            cpus=set(opts.load_cpus),
            timeout_s=opts.duration_s * workload.phases + graceful + 60,
        )
        result = read_summary(summary_path)
        observed = observer.figures() if observer else {}
        if not level.closed:
            observed.update(loadside.arrival_stats(
                raw_path, (workload.phases - 1) * opts.duration_s + opts.warmup_s,
                workload.phases * opts.duration_s))
            if not opts.raw:
                raw_path.unlink(missing_ok=True)
        after = topology.health(level.configuration, opts.base_url)
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
    if not cfg.capacity.forks_per_request:  # a forking server's processes live one request
        entry.usage.update(spread(served_before, served_after, cfg.settings.get("master_pid")))
    entry.figures = workload.level_figures(result, entry.usage, level, facts)
    for name in ("load_cores_busy", "interarrival_cv", "arrivals_sent"):
        if entry.usage.get(name) is not None:
            entry.figures[name] = entry.usage[name]
    processes = after.get("processes") or {}
    memory = worker_memory(processes)
    if memory:
        entry.figures["worker_pss_mib"] = memory
    gil = gil_check(level.variant.over(opts.limits).python, processes)
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
    if python is None or not pythons.get(python).free_threaded:
        return None
    enabled = {pid: p for pid, p in processes.items() if p.get("gil_enabled", True)}
    modules = sorted({m for p in enabled.values() for m in p.get("gil_enabled_by", ())})
    rule = (f"the GIL off in every process of a free-threaded build; turned on by importing "
            f"{', '.join(modules)}" if modules else
            "the GIL off in every process of a free-threaded build (sys._is_gil_enabled())")
    return Check("gil", "gil_enabled_processes", 0, 0, rule), len(enabled)


def python_mismatch(python: str | None, runtime: dict) -> str | None:
    """Why a container does not run the interpreter its variant names (the health answer's
    ``runtime``), or None when it does. The default interpreter is not checked: the base
    image's Python is whatever its version."""
    if python is None:
        return None
    interp = pythons.get(python)
    facts = runtime.get("python") or {}
    version, threaded = str(facts.get("version", "")), bool(facts.get("free_threaded_build"))
    if not version.startswith(interp.name.rstrip("t") + ".") or threaded != interp.free_threaded:
        return (f"runs Python {version or 'unknown'}"
                f"{' (free-threaded)' if threaded else ''}, not {interp.name}")
    return None


def spread(before: dict, after: dict, master_pid: int | None = None) -> dict:
    """How a level's requests spread over the server's processes: ``served_by_worker``
    (requests each process entered during the level, most first), ``served_top_share``
    (the busiest one's share; None with a single process) and ``served_by_master``
    (requests the server's master process entered itself; None when the server reports no
    master pid). Pids are keys as ``/healthz`` reports them (JSON: strings)."""
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


def _link_latest(results_dir: Path) -> None:
    latest = results_dir.parent / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(results_dir.name)
    except OSError:
        pass  # a convenience only
