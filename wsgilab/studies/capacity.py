"""``make capacity``: each configuration's capacity under a latency objective, and each
server's overhead, measured through one lab session (``wsgilab.model.capacity`` has the search
and its rules).

The run calibrates its load side first (``loadside.calibrate``), then, per repeat and
configuration (in a shuffled order per repeat): the server-overhead level, the
theoretical maximum, and the search's open levels. Every level is an ordinary level record
in ``bench.json``; the searches, overheads and calibration are recorded beside them
(``BenchRecord.capacities``, ``overheads``, ``instrument``). A run that fails or is
interrupted keeps what it gathered, and the lab is put back as declared.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import replace
from pathlib import Path

from wsgilab import workloads
from wsgilab.lab import compose, loadside, topology
from wsgilab.lab.compose import ComposeError
from wsgilab.lab.session import DockerEngine, Drift, Interrupted, LabSession
from wsgilab.model import objective
from wsgilab.model.capacity import LOAD_SIDE_FULL, MAX_STEPS, OVERHEAD_RATE_RPS, Search, Step, maximum, search
from wsgilab.model.levels import Variant
from wsgilab.model.load import OPEN_VUS_HEADROOM, Open, open_vus
from wsgilab.model.record import ERROR, INSTRUMENT_BOUND, BenchRecord, LevelRecord
from wsgilab.model.theory import UnknownServer
from wsgilab.studies import bench, options
from wsgilab.studies.options import MAX_VUS, BenchOptions, OptionError

#: Seconds per level of a search, the first left out: long enough for a queue past the
#: bound to lift the tail over the objective (at 10% past 16 req/s, 6 requests queue in
#: 4 s), short enough for every configuration in 15 minutes.
DURATION_S = 5
WARMUP_S = 1
#: The latency an overhead level's VUs are sized for (seconds): far above what a
#: zero-work request takes, so that k6 never runs short of VUs.
OVERHEAD_LATENCY_S = 1.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wsgilab capacity",
        description="Each configuration's capacity: the highest arrival rate it serves with "
                    "its latency under an objective, no error and no dropped request; and "
                    "each server's CPU time per request.")
    parser.add_argument("--services", type=options._name_list,
                        help="comma-separated configurations (default: all)")
    parser.add_argument("--workloads", type=options._name_list, default=("io",),
                        help="comma-separated workloads with a service time (default: io)")
    parser.add_argument("--slo", default="",
                        help="the latency objective, e.g. p99=500ms (default: p99 at most "
                             "twice the request's service time)")
    parser.add_argument("--arrivals", choices=("constant", "poisson"), default="constant",
                        help="how requests arrive (default: evenly spaced, k6's own)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a workload parameter, e.g. --param io_ms=100 (repeatable)")
    parser.add_argument("--limits", default="",
                        help="this run's limits for every configuration, e.g. cpus=0.5,memory=512M")
    parser.add_argument("--python",
                        help="search on this interpreter, e.g. 3.13t (services/python/"
                             "interpreters.toml; default: the base image's)")
    parser.add_argument("--repeat", type=int, default=1,
                        help=f"run every search this many times (1..{options.MAX_REPEAT})")
    parser.add_argument("--seed", type=int, help="seed of the shuffled order (default: the clock)")
    parser.add_argument("--duration", type=int, default=DURATION_S, dest="duration_s",
                        help=f"seconds per level (default: {DURATION_S})")
    parser.add_argument("--results", type=Path, dest="results_dir",
                        help="results directory (default: results/capacity-<timestamp>)")
    parser.add_argument("--load-cpus", type=options._int_list, default=(0,),
                        help="cores to pin k6 to (default: 0)")
    parser.add_argument("--check", action="store_true",
                        help="only check the options and print what would run")
    return parser


def parse(argv: list[str]) -> BenchOptions:
    """The capacity run's options, checked before any load.

    Raises:
        OptionError: an option the run cannot use, with the reason.
        SystemExit: with status 0, after ``--help``.
    """
    ns = options.parse_args(build_parser(), argv)
    available = compose.configurations()
    for name in ns.workloads:
        if name not in workloads.registry() or not workloads.get(name).service_param:
            usable = [w.name for w in workloads.registry().values() if w.service_param
                      and w.phases == 1]
            raise OptionError(f"a capacity search needs a workload with one request class and a "
                              f"service time; {name!r} is not one of {', '.join(usable)}")
        if workloads.get(name).phases != 1:
            raise OptionError(f"{name} runs in phases: its capacity has no single rate")
    try:
        slo = objective.parse(ns.slo)
    except ValueError as exc:
        raise OptionError(str(exc)) from None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    opts = BenchOptions(
        workloads=ns.workloads, services=ns.services or tuple(available),
        params=options.parse_params(ns.param, ns.workloads),
        limits=options.with_python(options.parse_limits(ns.limits), ns.python), objective=slo,
        arrivals=ns.arrivals,
        duration_s=ns.duration_s, warmup_s=WARMUP_S,
        results_dir=ns.results_dir or compose.ROOT / "results" / f"capacity-{stamp}",
        load_cpus=frozenset(ns.load_cpus), raw=False, check=ns.check, repeat=ns.repeat,
        seed=ns.seed if ns.seed is not None else int(time.time()))
    options.validate(opts, available)
    return opts


def estimate_s(opts: BenchOptions) -> float:
    """Seconds the run should take at most: calibration, and per configuration, workload and
    repeat the overhead level and a full search."""
    per_level = opts.duration_s + bench.LEVEL_OVERHEAD_S
    searches = len(opts.services) * len(opts.workloads) * opts.repeat
    return loadside.CALIBRATION_S + 5 + searches * (per_level * (1 + MAX_STEPS)
                                                       + bench.RECREATE_ESTIMATE_S)


def step_of(entry: LevelRecord, rate: float, bound_ms: float, figure: str) -> Step:
    """A search step from its level record: passed (its ``figure``, a latency percentile
    in ms, within ``bound_ms``, nothing failed or dropped), refused (the load cores were
    full: the host, not the configuration, is what the level measured), or why not."""
    if entry.result is None or entry.status == ERROR:
        return Step(rate, False, "; ".join(entry.problems)[:160] or "not measured",
                    slug=entry.level.slug)
    f = entry.figures
    why = []
    refused = entry.status == INSTRUMENT_BOUND
    if refused:
        why.append(host_full(entry.usage or {}))
    if f.get(figure) is None or f[figure] > bound_ms:
        why.append(f"{figure.split('_')[1]} {f.get(figure, 0):.0f} ms over {bound_ms:g} ms")
    if f.get("failures"):
        why.append(f"{f['failures']} failed")
    if f.get("dropped_iterations"):
        why.append(f"{f['dropped_iterations']} dropped")
    return Step(rate, not why, "; ".join(why), offered_rps=f.get("offered_rps"),
                latency_ms=f.get(figure), throughput_rps=f.get("throughput_rps"),
                slug=entry.level.slug, refused=refused)


def host_full(usage: dict) -> str:
    """Why a level was refused, in numbers: ``LOAD_SIDE_FULL``, the load cores' busy
    share, and the CPUs each measured process used (k6, nginx, the app's backends)."""
    busy = usage.get("load_cores_busy")
    users = [f"k6 {usage['k6_cpu_fraction']:.2f}"] if usage.get("k6_cpu_fraction") else []
    users += [f"{name[:-len('_cpu_fraction')]} {value:.2f}" for name, value in usage.items()
              if name.endswith("_cpu_fraction") and name not in ("k6_cpu_fraction", "app_cpu_fraction")
              and isinstance(value, float)]
    return (f"{LOAD_SIDE_FULL} (its cores {busy:.0%} busy" if busy is not None
            else f"{LOAD_SIDE_FULL} (") + (f": {', '.join(users)} CPU" if users else "") + ")"


def run(opts: BenchOptions, out=lambda line: print(line, flush=True)) -> BenchRecord:
    """Calibrate the load side, then measure each configuration's overhead and capacity.

    Returns:
        the record (``bench.json`` in ``opts.results_dir``): levels, capacities,
        overheads, the calibration.

    Raises:
        KeyboardInterrupt, session.Interrupted: stopped by a signal, after the record is
            saved and the lab put back.
        loadside.LoadSideError: the load side could not be calibrated.
    """
    import docker

    opts.results_dir.mkdir(parents=True, exist_ok=True)
    client = docker.from_env()
    record = BenchRecord(started=bench._now(), options={**opts.to_dict(), "kind": "capacity"},
                         environment=bench.environment(client), roles=compose.roles())
    bench.prepare_pythons(record, {opts.limits.python}, out)
    record.save(opts.results_dir / "bench.json")
    edge = str(compose.config()["services"][bench.FRONT_END]["cpuset"])
    lab = LabSession(DockerEngine(client), out, edge_cpuset=edge)
    rng = random.Random(opts.seed)
    started, total = time.monotonic(), estimate_s(opts)
    record.status = "failed"
    out(f"capacity: {len(opts.services)} configurations x {', '.join(opts.workloads)}, objective "
        f"{opts.objective.describe()}, {opts.repeat} repeat(s); at most about "
        f"{bench.fmt_duration(total)}; results: {opts.results_dir}")
    try:
        with lab:
            record.environment["reconciled"] = lab.reconciled
            calibration = loadside.calibrate(opts.results_dir, opts.base_url, opts.load_cpus, out)
            loadside.keep(calibration)
            record.instrument = calibration.to_dict()
            record.save()
            done = 0
            for repeat in range(1, opts.repeat + 1):
                order = list(opts.services)
                if opts.repeat > 1:
                    rng.shuffle(order)
                for service in order:
                    for name in opts.workloads:
                        done += 1
                        left = max(0.0, total - (time.monotonic() - started))
                        out(f"[{done}/{len(opts.services) * len(opts.workloads) * opts.repeat}] "
                            f"{service} {name}{f', repeat {repeat}' if opts.repeat > 1 else ''} "
                            f"(about {bench.fmt_duration(left)} left at most)")
                        _one(lab, client, opts, record, service, name, repeat, calibration, out)
            record.status = "complete"
    except KeyboardInterrupt:
        record.status = "interrupted (SIGINT)"
        raise
    except Interrupted as exc:
        record.status = f"interrupted ({exc})"
        raise
    finally:
        record.environment["restored"] = lab.restored
        record.finished = bench._now()
        record.save()
    return record


def _one(lab: LabSession, client, opts: BenchOptions, record: BenchRecord, service: str,
         name: str, repeat: int, calibration: loadside.Calibration, out) -> None:
    """One configuration and workload: its overhead level, its maximum, its search."""
    workload = workloads.get(name)
    variant = Variant().over(opts.limits)
    try:
        lab.isolate(service, others=workload.isolated)
        lab.apply(service, variant)
        topology.wait_idle(topology.container(service, client))
        cfg = topology.discover(service, opts.base_url, client)
    except (ComposeError, LookupError, ConnectionError, UnknownServer, TimeoutError) as exc:
        out(f"    {service}: cannot be measured: {exc}")
        record.capacities.append({"configuration": service, "workload": name, "repeat": repeat,
                                  "error": f"{type(exc).__name__}: {exc}"})
        record.save()
        return

    def level_record(level) -> LevelRecord:
        level = replace(level, repeat=repeat)
        try:
            lab.verify(service, variant)
        except Drift as exc:
            entry = LevelRecord(level, configuration=cfg, problems=[f"Drift: {exc}"])
        else:
            entry = bench.run_level(opts, level, cfg, client)
        record.levels.append(entry)
        record.save()
        out("      " + level.load.describe() + ": " + bench.level_line(entry))
        return entry

    # Server overhead: CPU per request on a near-zero-work request (io, when it is there).
    overhead = None
    if "io_ms" in {p.name for p in workloads.get("io").params}:
        load = Open(OVERHEAD_RATE_RPS, open_vus(OVERHEAD_RATE_RPS, OVERHEAD_LATENCY_S, 1.0))
        entry = level_record(workloads.get("io").level(service, load, {"io_ms": 0}, variant))
        used, served = (entry.usage or {}).get("app_cpu_fraction"), entry.figures.get("throughput_rps")
        if used is not None and served:
            overhead = used / served * 1000.0
            record.overheads.append({
                "configuration": service, "server": cfg.settings.get("server"),
                "worker_class": cfg.settings.get("worker_class"), "repeat": repeat,
                "formula": cfg.capacity.formula, "rate_rps": OVERHEAD_RATE_RPS,
                "throughput_rps": served, "app_cpus": used, "cpu_ms_per_request": overhead,
                "rps_per_cpu": 1000.0 / overhead if overhead > 0 else None,
                "load_cores_busy": entry.usage.get("load_cores_busy"), "level": entry.level.slug})
            out(f"    {service}: {overhead:.2f} ms of CPU per request, at most "
                f"{1000.0 / overhead:.0f} req/s per CPU")
    params = {**opts.params}
    service_ms = workload.service_ms(params)
    limits = cfg.limits
    usable = min(x for x in (limits.cpus or None, float(limits.cpuset_cpus)) if x)
    top, what, rule = maximum(cfg.capacity, service_ms, usable, overhead)
    bound_ms = opts.objective.bound_for(service_ms)
    ceiling = calibration.max_rps
    out(f"    {service}: maximum {f'{top:.1f} req/s' if top else 'unknown'} ({what}: {rule}); "
        f"objective {opts.objective.describe(service_ms)}; the load side drives {ceiling:.0f} req/s")
    floor = None
    if cfg.capacity.sustained is not None and service_ms > 0:
        floor = cfg.capacity.sustained / (service_ms / 1000.0)
    found = Search(service, name, {"percentile": opts.objective.percentile, "bound_ms": bound_ms},
                   service_ms, top, what, rule, ceiling, repeat=repeat, floor_rps=floor,
                   floor_rule=cfg.capacity.sustained_rule)

    def measure(rate: float) -> Step:
        vus = min(MAX_VUS, open_vus(rate, bound_ms / 1000.0, OPEN_VUS_HEADROOM))
        entry = level_record(workload.level(service, Open(rate, vus, opts.arrivals), params, variant))
        step = step_of(entry, rate, bound_ms, opts.objective.figure)
        found.steps.append(step)
        return step

    search(measure, top, ceiling)
    record.capacities.append(found.to_dict())
    record.save()
    cap, ratio = found.capacity_rps, found.ratio
    out(f"    {service}: capacity {f'{cap:.1f} req/s' if cap else 'none'}"
        + (f" = {ratio:.2f} of the maximum" if ratio else "") + f" ({found.verdict()})")
