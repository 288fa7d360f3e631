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
from wsgilab.lab import compose, loadside
from wsgilab.lab.probe import Probe
from wsgilab.lab.run import (
    LEVEL_OVERHEAD_S,
    RECREATE_ESTIMATE_S,
    Run,
    base_image,
    fmt_duration,
    front_end_cpuset,
)
from wsgilab.lab.search import find_capacity
from wsgilab.lab.session import NotServing
from wsgilab.model import objective
from wsgilab.model.capacity import MAX_STEPS, OVERHEAD_RATE_RPS, maximum
from wsgilab.model.load import Open, open_vus
from wsgilab.model.paths import ROOT
from wsgilab.model.record import BenchRecord
from wsgilab.studies import options
from wsgilab.studies.options import BenchOptions, OptionError

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
        results_dir=ns.results_dir or ROOT / "results" / f"capacity-{stamp}",
        load_cpus=frozenset(ns.load_cpus), raw=False, check=ns.check, repeat=ns.repeat,
        seed=ns.seed if ns.seed is not None else int(time.time()))
    options.validate(opts, available)
    return opts


def estimate_s(opts: BenchOptions) -> float:
    """Seconds the run should take at most: calibration, and per configuration, workload and
    repeat the overhead level and a full search."""
    per_level = opts.duration_s + LEVEL_OVERHEAD_S
    searches = len(opts.services) * len(opts.workloads) * opts.repeat
    return loadside.CALIBRATION_S + 5 + searches * (per_level * (1 + MAX_STEPS)
                                                       + RECREATE_ESTIMATE_S)


def run(opts: BenchOptions, out=lambda line: print(line, flush=True), **run_args) -> BenchRecord:
    """Calibrate the load side, then measure each configuration's overhead and capacity.

    Args:
        run_args: passed to ``Run`` (a fake engine and measurer in the unit tests).

    Returns:
        the record (``bench.json`` in ``opts.results_dir``): levels, capacities,
        overheads, the calibration.

    Raises:
        KeyboardInterrupt, session.Interrupted: stopped by a signal, after the record is
            saved and the lab put back.
        loadside.LoadSideError: the load side could not be calibrated.
    """
    rng = random.Random(opts.seed)
    total = estimate_s(opts)
    run_args.setdefault("probe", Probe(opts.base_url))
    with Run(opts.results_dir, "capacity", opts.to_dict(), opts.pace, out=out,
             roles=compose.roles(), edge_cpuset=front_end_cpuset(), **run_args) as lab:
        lab.describe_environment(base_image())
        lab.prepare_pythons({opts.limits.python})
        out(f"capacity: {len(opts.services)} configurations x {', '.join(opts.workloads)}, "
            f"objective {opts.objective.describe()}, {opts.repeat} repeat(s); at most about "
            f"{fmt_duration(total)}; results: {opts.results_dir}")
        calibration = lab.calibrate()
        done, count = 0, len(opts.services) * len(opts.workloads) * opts.repeat
        for repeat in range(1, opts.repeat + 1):
            order = list(opts.services)
            if opts.repeat > 1:
                rng.shuffle(order)
            for service in order:
                for name in opts.workloads:
                    done += 1
                    lab.progress(done, count, f"{service} {name}"
                                 + (f", repeat {repeat}" if opts.repeat > 1 else ""),
                                 max(0.0, total - lab.elapsed_s))
                    one(lab, opts, service, name, repeat, calibration.max_rps)
    return lab.record


def one(lab: Run, opts: BenchOptions, service: str, name: str, repeat: int,
        ceiling_rps: float | None) -> None:
    """One configuration and workload: its overhead level, its maximum, its search."""
    workload = workloads.get(name)
    lab.session.isolate(service, others=workload.isolated)
    cfg = lab.serving(service)
    if isinstance(cfg, NotServing):
        lab.record.capacities.append({"configuration": service, "workload": name,
                                      "repeat": repeat, "error": str(cfg)})
        lab.record.save()
        return
    overhead = overhead_level(lab, cfg, repeat)
    params = {**opts.params}
    service_ms = workload.service_ms(params)
    usable = min(x for x in (cfg.limits.cpus or None, float(cfg.limits.cpuset_cpus)) if x)
    top = maximum(cfg.capacity, service_ms, usable, overhead)
    lab.out(f"    {service}: maximum {f'{top[0]:.1f} req/s' if top[0] else 'unknown'} "
            f"({top[1]}: {top[2]}); objective {opts.objective.describe(service_ms)}; the load "
            f"side drives {ceiling_rps or 0:.0f} req/s")
    floor = (cfg.capacity.sustained / (service_ms / 1000.0)
             if cfg.capacity.sustained is not None and service_ms > 0 else None)
    found = find_capacity(lab, service, cfg, name, params, opts.objective, maximum=top,
                          ceiling_rps=ceiling_rps, repeat=repeat, arrivals=opts.arrivals,
                          floor=(floor, cfg.capacity.sustained_rule))
    lab.record.capacities.append(found.to_dict())
    lab.record.save()
    cap, ratio = found.capacity_rps, found.ratio
    lab.out(f"    {service}: capacity {f'{cap:.1f} req/s' if cap else 'none'}"
            + (f" = {ratio:.2f} of the maximum" if ratio else "") + f" ({found.verdict()})")


def overhead_level(lab: Run, cfg, repeat: int) -> float | None:
    """Server overhead: the CPU per request (ms) on a near-zero-work request (io at 0 ms,
    ``OVERHEAD_RATE_RPS``), recorded in ``BenchRecord.overheads``; None when not measured."""
    load = Open(OVERHEAD_RATE_RPS, open_vus(OVERHEAD_RATE_RPS, OVERHEAD_LATENCY_S, 1.0))
    level = replace(workloads.get("io").level(cfg.service, load, {"io_ms": 0}), repeat=repeat)
    entry = lab.measure(level, cfg)
    used, served = (entry.usage or {}).get("app_cpu_fraction"), entry.figures.get("throughput_rps")
    if used is None or not served:
        return None
    overhead = used / served * 1000.0
    lab.record.overheads.append({
        "configuration": cfg.service, "server": cfg.settings.get("server"),
        "worker_class": cfg.settings.get("worker_class"), "repeat": repeat,
        "formula": cfg.capacity.formula, "rate_rps": OVERHEAD_RATE_RPS,
        "throughput_rps": served, "app_cpus": used, "cpu_ms_per_request": overhead,
        "rps_per_cpu": 1000.0 / overhead if overhead > 0 else None,
        "load_cores_busy": entry.usage.get("load_cores_busy"), "level": entry.level.slug})
    lab.out(f"    {cfg.service}: {overhead:.2f} ms of CPU per request, at most "
            f"{1000.0 / overhead:.0f} req/s per CPU")
    return overhead
