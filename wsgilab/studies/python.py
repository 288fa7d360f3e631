"""``make bench-python``: the same configurations on each Python, a free-threaded build beside
its GIL twin, under one CPU quota, through one lab session (``bench.run``).

The plan (module constants; every level an ordinary level record of ``bench.json``):

1. ``cpu`` at ``CPU_LOAD`` under ``CPU_VARIANT`` (a 2-CPU quota on both cores) on every
   interpreter: one gthread worker of 8 threads, the threaded dev server, granian with 1
   worker and 8 blocking threads, waitress with 8 threads, and 4 sync workers as the
   baseline (their roles: ``CPU_ROLES``). With a GIL, a process of threads stays near one
   CPU; without it, its threads may use the quota. The bound each level is checked against
   follows from what the workers report (``theory.without_gil``).
2. ``io`` and ``db`` (the default driver, psycopg, which installs on a free-threaded build)
   on the free-threaded build for the threaded configurations (``CONCURRENCY_ROLES``): the
   concurrency each serves must be what its settings say, as on the GIL build.

On a free-threaded interpreter every level also checks that the GIL stayed off in every
process (``bench.gil_check``). Interpreters are built, and the demo app staged and built for
each, before the session starts (``pythons.prepare``): image builds, not bench time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

from wsgilab import workloads
from wsgilab.lab import compose
from wsgilab.lab.engine import DockerEngine, Engine, EngineError
from wsgilab.model import interpreters
from wsgilab.model.levels import Level, Variant
from wsgilab.model.load import Closed
from wsgilab.model.paths import ROOT
from wsgilab.model.record import BenchRecord
from wsgilab.model.roles import player
from wsgilab.studies import bench, options

#: Interpreters compared by default: the base image's, and a free-threaded build with its
#: twin from the same tarball and flags (services/python/interpreters.toml).
DEFAULT_PYTHONS = ("3.11", "3.13", "3.13t")
#: Point 1's configurations, by role.
CPU_ROLES = ("sync-workers", "gthread-one-process", "dev-server", "granian-blocking-threads",
             "waitress-threads")
#: waitress's threads in point 1: as many as gthread's and granian's.
WAITRESS_THREADS = "8"
#: Point 1's limits: a 2-CPU quota on both cores (k6 and nginx share core 0; the level
#: subtracts what they used there from the bound).
CPU_VARIANT = Variant(cpus=2.0, cpuset="0-1")
#: 10 VUs: above the 8 threads and the 4 workers, so that each configuration is
#: server-bound (as the default bench's CPU levels).
CPU_LOAD = Closed(10)
#: Point 2's configurations and loads: above their 8 slots, so that the cap binds.
CONCURRENCY_ROLES = ("gthread-one-process", "granian-blocking-threads")
IO_LOAD = Closed(16)
DB_LOAD = Closed(12)
#: The light check (CI, ``--light``): one CPU-bound level of one gthread worker of 8
#: threads on the free-threaded build.
LIGHT_PYTHON = "3.13t"
LIGHT_ROLE = "gthread-one-process"


def plan(roles: dict[str, list[str]], names: tuple[str, ...], light: bool = False) -> list[Level]:
    """The levels of the module docstring for interpreters ``names``, each role's on its
    first player.

    Args:
        roles: ``{role: [configuration, ...]}`` (``compose.roles``).

    Raises:
        interpreters.UnknownPython: a name not declared.
        KeyError: a role no configuration plays.
    """
    def configuration(role: str) -> str:
        found = player(roles, role)
        if found is None:
            raise KeyError(f"no configuration plays the role {role!r} (lab.roles labels in compose/)")
        return found

    cpu, io, db = workloads.get("cpu"), workloads.get("io"), workloads.get("db")
    if light:
        return [cpu.level(configuration(LIGHT_ROLE), CPU_LOAD, {}, replace(CPU_VARIANT, python=LIGHT_PYTHON))]
    levels = []
    for name in names:
        python = None if interpreters.get(name).system else name
        for role in CPU_ROLES:
            knobs = (("threads", WAITRESS_THREADS),) if role == "waitress-threads" else ()
            variant = replace(CPU_VARIANT, python=python, knobs=knobs)
            levels.append(cpu.level(configuration(role), CPU_LOAD, {}, variant))
    for name in names:
        if not interpreters.get(name).free_threaded:
            continue
        for role in CONCURRENCY_ROLES:
            levels.append(io.level(configuration(role), IO_LOAD, {}, Variant(python=name)))
            levels.append(db.level(configuration(role), DB_LOAD, {}, Variant(python=name)))
    return levels


#: The single-thread measurement: rounds over every interpreter in turn (so that a slow
#: stretch of this shared machine falls on all of them alike), runs per round, slices of
#: ``burn``'s work per run (about 1 s at 50 us a slice). The least run is kept: other
#: processes on the core only ever add to it (the timeit module's docs: "the lowest value
#: gives a lower bound ... higher values ... are typically ... caused by other processes
#: interfering").
SINGLE_THREAD_ROUNDS = 3
SINGLE_THREAD_RUNS = 3
SINGLE_THREAD_SLICES = 20000
#: Where it runs: the core the configurations are measured on (declared: compose/app.yml),
#: idle once the session has put the lab back.
SINGLE_THREAD_CPUSET = "1"
_SINGLE_THREAD = ("import json; from labapp.cpu import slice_cost_us; "
                  "print(json.dumps([slice_cost_us({n}) for _ in range({runs})]))")


def single_thread_runs(interp: interpreters.Interpreter, cpuset: str, engine: Engine) -> list[float]:
    """``SINGLE_THREAD_RUNS`` measurements of one slice of the cpu endpoint's work on
    ``interp``, one thread, in its app image (``labapp.cpu.slice_cost_us``), in
    microseconds: a throwaway container of its own (``Engine.run_once``: no network,
    read-only, non-root, no capabilities), on ``cpuset`` with a 1-CPU quota.

    Raises:
        EngineError: it could not run (the image is never pulled: it is the lab's own).
    """
    code = _SINGLE_THREAD.format(n=SINGLE_THREAD_SLICES, runs=SINGLE_THREAD_RUNS)
    output = engine.run_once(interp.app_image, ["python3", "-c", code], cpuset=cpuset,
                             cpus=1.0, memory="256M", pids=64)
    return json.loads(output)


def single_thread(interps: list[interpreters.Interpreter], engine: Engine,
                  cpuset: str = SINGLE_THREAD_CPUSET) -> dict[str, dict]:
    """Each interpreter's single-thread cost, by name: ``{"slice_us": the least run,
    "median_us", "runs_us": [...], "cpuset"}`` (``single_thread_runs``, interleaved over
    ``SINGLE_THREAD_ROUNDS``).

    Raises:
        EngineError: a container could not run.
    """
    runs: dict[str, list[float]] = {i.name: [] for i in interps}
    for _ in range(SINGLE_THREAD_ROUNDS):
        for interp in interps:
            runs[interp.name] += single_thread_runs(interp, cpuset, engine)
    return {name: {"slice_us": min(r), "median_us": statistics.median(r), "runs_us": r,
                   "cpuset": cpuset} for name, r in runs.items()}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wsgilab python",
        description="The same configurations on each Python: CPU-bound throughput and the "
                    "CPUs used under a 2-CPU quota, a free-threaded build beside its GIL twin.")
    parser.add_argument("--pythons", type=options._name_list, default=DEFAULT_PYTHONS,
                        help=f"comma-separated interpreters (default: {','.join(DEFAULT_PYTHONS)}; "
                             "declared in services/python/interpreters.toml)")
    parser.add_argument("--light", action="store_true",
                        help=f"one CPU-bound level of {LIGHT_ROLE} on {LIGHT_PYTHON} (the CI check)")
    parser.add_argument("--results", type=Path, dest="results_dir",
                        help="results directory (default: results/python-<timestamp>)")
    parser.add_argument("--check", action="store_true",
                        help="only check the options and print what would run")
    return parser


def parse(argv: list[str]) -> tuple[options.BenchOptions, tuple[str, ...]]:
    """The run's options and its interpreters, checked before any build or load.

    Raises:
        options.OptionError: an unknown interpreter or an invalid command line.
        SystemExit: with status 0, after ``--help``.
    """
    ns = options.parse_args(build_parser(), argv)
    try:
        levels = plan(compose.roles(), tuple(ns.pythons), ns.light)
    except interpreters.UnknownPython as exc:
        raise options.OptionError(str(exc)) from None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    services = tuple(dict.fromkeys(lv.configuration for lv in levels))
    opts = options.BenchOptions(
        workloads=tuple(dict.fromkeys(lv.workload for lv in levels)), services=services,
        results_dir=ns.results_dir or ROOT / "results" / f"python-{stamp}",
        check=ns.check)
    opts = replace(opts, plan=tuple(levels))
    options.validate(opts, compose.configurations())
    for level in levels:
        options.validate_level(level, opts)
    return opts, ((LIGHT_PYTHON,) if ns.light else tuple(ns.pythons))


def run(opts: options.BenchOptions, names: tuple[str, ...],
        out=lambda line: print(line, flush=True), **run_args) -> BenchRecord:
    """Prepare the interpreters, run the plan (``bench.run``: builds what they lack first,
    cached), then measure each interpreter's single-thread cost once the lab is back as
    declared and idle. Rendering is the CLI's.

    Raises:
        as ``bench.run``.
    """
    record = bench.run(opts, out, kind="python", **run_args)
    every = [interpreters.get(n) for n in names]
    for interp in every:
        record.pythons.setdefault(interp.name, {"interpreter": interp.to_dict()})
    out(f"single-thread cost: {SINGLE_THREAD_ROUNDS} rounds over {', '.join(names)}")
    engine = run_args.get("engine") or DockerEngine()
    try:
        for name, cost in single_thread(every, engine).items():
            record.pythons[name]["single_thread"] = cost
            out(f"{name}: one slice of the cpu endpoint's work takes {cost['slice_us']:.1f} us "
                "of CPU, one thread (least run)")
    except EngineError as exc:
        out(f"single-thread cost not measured: {exc}")
    record.save()
    return record
