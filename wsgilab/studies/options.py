"""The bench's options: parsed and checked completely, and the plan built, before any load.

The plan is the list of ``Level`` s the bench will run: each selected workload's default
plan (``Workload.plan``) over the selected configurations, with the user's VUs,
parameters and limits. Every level is checked against the lab's bounds and against the
limits its container would run with, so that a run that cannot be measured honestly stops
here with a message and sends nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from wsgilab import families as servers
from wsgilab import workloads
from wsgilab.lab import compose, loadside, swarm
from wsgilab.lab.compose import declared_limits
from wsgilab.lab.measure import Pace
from wsgilab.lab.probe import DEFAULT_BASE_URL
from wsgilab.model import interpreters, objective
from wsgilab.model.levels import Level, Variant, cpuset_size, knob_variable, memory_bytes
from wsgilab.model.load import ARRIVALS, CONSTANT, OPEN_VUS_HEADROOM
from wsgilab.model.objective import Objective
from wsgilab.model.paths import relative
from wsgilab.model.theory import UnknownServer
from wsgilab.verdicts import claims
from wsgilab.workloads.base import PlanRequest

#: The most VUs one level may use: past 1,000 in flight for the ceiling scenario. nginx is
#: sized for it (services/nginx/nginx.conf: 2 connections per VU, 4096 connections, 8192
#: descriptors).
MAX_VUS = 2000
#: Tasks a container needs besides its server's threads: server processes, their helper
#: threads, a healthcheck. A pids limit below what a server starts for the load (a thread
#: per connection for the threaded dev server) would itself cap it, and the lab would
#: measure the limit, not the server.
PIDS_HEADROOM = 32
#: Memory one server process needs, MiB: a gunicorn worker of this image holds about
#: 35 MiB once it has imported the app with its four database drivers and two HTTP
#: clients (`docker stats` of the running lab: 4 sync workers + arbiter 162 MiB, 4 gevent
#: workers + arbiter 176 MiB), plus room for the requests it serves. Servers that import
#: the app once and fork (uWSGI: 4 processes 53 MiB) need less; the check assumes the
#: most. The sweep measures it each run (report: memory per worker).
MEMORY_PER_PROCESS_MIB = 40
#: Memory a container needs besides its server processes, MiB: the healthcheck's python
#: (about 10 MiB while it runs) and page cache the cgroup counts.
MEMORY_BASE_MIB = 16
#: Seconds per level phase, the first DEFAULT_WARMUP_S left out: a 4 s steady window, 16
#: rounds of a 250 ms request, long enough for counts, short enough for `make bench` to
#: cover every configuration and workload in 8 minutes.
DEFAULT_DURATION_S = 5
DEFAULT_WARMUP_S = 1
#: The workloads `make bench` runs when none are named.
DEFAULT_WORKLOADS = ("io", "cpu", "mixed", "db", "upstream")
#: The most k6 processes one level may be split across on this host (each a process on the
#: load cores; beyond a few they only share those cores).
MAX_LOAD_INSTANCES = 8
#: Where ``--engine`` may run the configurations (``wsgilab.lab.engine``).
ENGINES = ("compose", "swarm")
#: How many times the default plan runs a level some claim's verdict is close on
#: (``claims.close_levels``), interleaved with the rest: the least that shows a spread, so
#: that a verdict whose repeats straddle its line is undecided, not decided by one draw
#: (records/gthread-repeats: gthread 2 x 4's Little's L at 40 VUs 6.42-7.96 over five).
CLOSE_REPEATS = 3
#: The most repeats of a plan one run may ask for.
MAX_REPEAT = 20
_LOOPBACK = re.compile(r"^http://127\.0\.0\.1:\d{1,5}$")
_LIMIT = re.compile(r"^(cpus|memory|pids|cpuset)=(.+)$")
_KNOB_SENTINEL = "987654321"


class OptionError(ValueError):
    """A bench option that cannot be run; raised before any load starts."""


@dataclass(frozen=True)
class BenchOptions:
    """One bench run. Durations in seconds.

    Attributes:
        workloads: the workloads whose plans run, in order.
        services: the configurations to measure, in order.
        vus: closed loads given on the command line (VUs), or None.
        rates: open loads given on the command line (arrival rates, req/s), or None; with
            neither, each workload runs its own loads.
        arrivals: how open loads' requests arrive (``load.CONSTANT``, ``load.POISSON``).
        objective: the latency objective (``--slo``): it sizes open loads' VUs, and a
            capacity search (``wsgilab.model.capacity``) judges each rate by it.
        params: workload parameters given on the command line (parsed).
        limits: the run's own limits (``--limits``), applied to every level beneath the
            level's own variant.
        duration_s: length of each level phase; warmup_s: its start, left out.
        base_url: the lab's front end; loopback only.
        results_dir: where summaries, raw samples and the report go.
        load_cpus: cores k6 is pinned to.
        raw: also keep every k6 sample (``--out json``, gzip).
        check: validate and print the plan only.
        repeat: how many times every level runs; seed: the seed of the shuffled order of
            configurations in each repeat (recorded, so that a run can be replayed).
        matrix: every value of each workload's axes for every configuration (``db``:
            every driver; ``upstream``: every client), not their default cases.
        load_instances: k6 processes each level is split across, by execution segment,
            their samples merged (``Pace.load_instances``).
        engine: where the configurations run: ``compose`` (this host's Docker engine) or
            ``swarm`` (services of a Docker Swarm stack: ``wsgilab.lab.engine.SwarmEngine``).
        plan: the levels to run, built and checked by ``parse``.
        skipped: levels of the plan the engine cannot run (a swarm cannot pin a level's
            cores: ``swarm.check_level``), each with why; left out of ``plan``.
    """

    workloads: tuple[str, ...]
    services: tuple[str, ...]
    vus: tuple[int, ...] | None = None
    rates: tuple[float, ...] | None = None
    arrivals: str = CONSTANT
    objective: Objective = field(default_factory=Objective)
    params: dict = field(default_factory=dict)
    limits: Variant = field(default_factory=Variant)
    duration_s: int = DEFAULT_DURATION_S
    warmup_s: int = DEFAULT_WARMUP_S
    base_url: str = DEFAULT_BASE_URL
    results_dir: Path = field(default_factory=lambda: default_results_dir())
    load_cpus: frozenset[int] = frozenset({0})
    raw: bool = True
    check: bool = False
    repeat: int = 1
    seed: int = 0
    matrix: bool = False
    load_instances: int = 1
    engine: str = "compose"
    plan: tuple[Level, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def pace(self) -> Pace:
        """How each level of the run is run (``wsgilab.lab.measure.Pace``)."""
        return Pace(self.duration_s, self.warmup_s, frozenset(self.load_cpus), self.raw,
                    self.limits, self.load_instances)

    def to_dict(self) -> dict:
        return {"workloads": list(self.workloads), "services": list(self.services),
                "vus": list(self.vus) if self.vus else None,
                "rates": list(self.rates) if self.rates else None, "arrivals": self.arrivals,
                "objective": self.objective.to_dict(), "params": self.params,
                "limits": self.limits.to_dict(), "duration_s": self.duration_s,
                "warmup_s": self.warmup_s, "base_url": self.base_url,
                "results_dir": relative(self.results_dir), "load_cpus": sorted(self.load_cpus),
                "raw": self.raw, "repeat": self.repeat, "seed": self.seed,
                "matrix": self.matrix, "load_instances": self.load_instances,
                "engine": self.engine, "levels": len(self.plan),
                "skipped": [list(s) for s in self.skipped]}


def default_results_dir() -> Path:
    return compose.ROOT / "results" / time.strftime("%Y%m%d-%H%M%S")


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part, 10) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected whole numbers separated by commas, got {text!r}") from None


def _rate_list(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected arrival rates in req/s separated by commas, got {text!r}") from None
    if any(not (r > 0 and r < float("inf")) for r in rates):
        raise argparse.ArgumentTypeError(f"arrival rates must be above 0 req/s, got {text!r}")
    return rates


def _name_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_limits(text: str) -> Variant:
    """``"cpus=0.5,memory=512M,pids=128"`` (and ``cpuset=0-1``) as a ``Variant``.

    Raises:
        OptionError: an unknown key or a malformed value, with what was expected.
    """
    values: dict = {}
    for part in _name_list(text or ""):
        match = _LIMIT.match(part)
        if not match:
            raise OptionError(f"--limits takes cpus=, memory=, pids= and cpuset=, comma-"
                              f"separated (e.g. cpus=0.5,memory=512M,pids=128); got {part!r}")
        key, raw = match.groups()
        try:
            if key == "cpus":
                values[key] = float(raw)
            elif key == "pids":
                values[key] = int(raw, 10)
            elif key == "memory":
                memory_bytes(raw)
                values[key] = raw
            else:
                cpuset_size(raw)
                values[key] = raw
        except ValueError as exc:
            raise OptionError(f"--limits {key}: {exc}") from None
    try:
        return Variant(**values)
    except ValueError as exc:
        raise OptionError(f"--limits: {exc}") from None


def with_python(limits: Variant, name: str | None) -> Variant:
    """``limits`` with every level on the interpreter ``name`` (``--python``), declared in
    ``services/python/interpreters.toml``; unchanged for None.

    Raises:
        OptionError: an undeclared name, with the declared ones.
    """
    if name is None:
        return limits
    try:
        interpreters.get(name)
    except interpreters.UnknownPython as exc:
        raise OptionError(f"--python: {exc}") from None
    return replace(limits, python=name)


def build_parser() -> argparse.ArgumentParser:
    known = workloads.registry()
    parser = argparse.ArgumentParser(
        prog="python -m wsgilab bench",
        description="Drive load through nginx at each configuration, one level at a time, "
                    "and compare what it reaches with what its settings promise.",
        epilog="workloads: " + "; ".join(f"{w.name}: {w.description} (parameters: "
                                         + ", ".join(f"{p.name}={p.default}" for p in w.params) + ")"
                                         for w in known.values()))
    parser.add_argument("--workloads", type=_name_list, default=DEFAULT_WORKLOADS,
                        help=f"comma-separated workloads (default: {','.join(DEFAULT_WORKLOADS)})")
    parser.add_argument("--services", type=_name_list,
                        help="comma-separated configurations (default: all)")
    parser.add_argument("--vus", type=_int_list,
                        help="comma-separated VU levels, for every workload (default: each "
                             "workload's own, e.g. io 2,10,40)")
    parser.add_argument("--rates", type=_rate_list,
                        help="comma-separated open-model arrival rates in req/s, beside or "
                             "instead of --vus (k6's constant-arrival-rate; a request k6 "
                             "could not send is a failure)")
    parser.add_argument("--arrivals", choices=ARRIVALS, default=CONSTANT,
                        help="how open-model requests arrive: evenly spaced (k6's own, "
                             "default) or poisson (thinning; its measured coefficient of "
                             "variation is recorded)")
    parser.add_argument("--slo", default="",
                        help="the latency objective, e.g. p99=500ms or p95=1.5s (default: "
                             "p99 at most twice the request's service time); sizes open "
                             "loads' VUs")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a workload parameter, e.g. --param io_ms=100 (repeatable)")
    parser.add_argument("--limits", default="",
                        help="this run's limits for every configuration it measures, e.g. "
                             "cpus=0.5,memory=512M,pids=128; put back as declared afterwards "
                             "(default: as declared: compose/app.yml, APP_* in .env)")
    parser.add_argument("--python",
                        help="run every level on this interpreter, e.g. 3.13t (declared in "
                             "services/python/interpreters.toml; built first if missing; "
                             "default: the base image's)")
    parser.add_argument("--duration", type=int, default=DEFAULT_DURATION_S, dest="duration_s",
                        help=f"seconds per level (default: {DEFAULT_DURATION_S})")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP_S, dest="warmup_s",
                        help=f"seconds at the start of a level left out of the figures "
                             f"(default: {DEFAULT_WARMUP_S})")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL,
                        help=f"the lab's front end, on loopback only (default: {DEFAULT_BASE_URL})")
    parser.add_argument("--results", type=Path, dest="results_dir",
                        help="results directory (default: results/<timestamp>)")
    parser.add_argument("--load-cpus", type=_int_list, default=(0,),
                        help="cores to pin k6 to (default: 0; the configurations run on core 1)")
    parser.add_argument("--no-raw", dest="raw", action="store_false",
                        help="do not keep k6's raw samples")
    parser.add_argument("--repeat", type=int, default=1,
                        help=f"run every level this many times, configurations in a shuffled "
                             f"order each time (1..{MAX_REPEAT}; default: 1)")
    parser.add_argument("--seed", type=int,
                        help="seed of the shuffled order (default: from the clock; recorded)")
    parser.add_argument("--matrix", action="store_true",
                        help="every driver (db) and client (upstream) for every selected "
                             "configuration, not the default cases")
    parser.add_argument("--load-instances", type=int, default=1,
                        help=f"k6 processes each level is split across by execution segment, "
                             f"their raw samples merged into one level's figures "
                             f"(1..{MAX_LOAD_INSTANCES}; default: 1)")
    parser.add_argument("--engine", choices=ENGINES, default="compose",
                        help="where the configurations run: compose (this host's Docker "
                             "engine, default) or swarm (a Docker Swarm stack from the same "
                             "model, driven from this manager node; levels that need their "
                             "own cores are skipped and listed)")
    parser.add_argument("--check", action="store_true",
                        help="only check the options and print the plan; send no load")
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, a usage error as an ``OptionError``.

    Raises:
        OptionError: argparse rejected the command line (it has printed why).
        SystemExit: with status 0, after ``--help`` printed the help.
    """
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed the help, or the reason
        if exc.code == 0:
            raise  # --help: nothing to run, and nothing wrong
        raise OptionError("invalid command line (see above)") from exc


def parse(argv: list[str] | None = None) -> BenchOptions:
    """Parse and validate bench arguments, and build the plan.

    Raises:
        OptionError: any option the bench cannot run with, with the reason.
        SystemExit: with status 0, after ``--help`` printed the help.
    """
    ns = parse_args(build_parser(), argv)
    available = compose.configurations()
    unknown = [w for w in ns.workloads if w not in workloads.registry()]
    if unknown or not ns.workloads:
        raise OptionError(f"unknown workload(s) {', '.join(unknown) or '(none given)'}; "
                          f"known: {', '.join(workloads.registry())}")
    limits = with_python(parse_limits(ns.limits), ns.python)
    try:
        slo = objective.parse(ns.slo)
    except ValueError as exc:
        raise OptionError(str(exc)) from None
    opts = BenchOptions(
        workloads=ns.workloads,
        services=ns.services or tuple(available),
        vus=ns.vus,
        rates=ns.rates,
        arrivals=ns.arrivals,
        objective=slo,
        params=parse_params(ns.param, ns.workloads),
        limits=limits,
        duration_s=ns.duration_s,
        warmup_s=ns.warmup_s,
        base_url=ns.base_url,
        results_dir=ns.results_dir or default_results_dir(),
        load_cpus=frozenset(ns.load_cpus),
        raw=ns.raw,
        check=ns.check,
        repeat=ns.repeat,
        seed=ns.seed if ns.seed is not None else int(time.time()),
        matrix=ns.matrix,
        load_instances=ns.load_instances,
        engine=ns.engine,
    )
    validate(opts, available)
    plan = build_plan(opts)
    if not plan:
        raise OptionError(f"nothing to run: no level of {', '.join(opts.workloads)} uses "
                          f"{', '.join(opts.services)}")
    for level in plan:
        validate_level(level, opts)
    plan, skipped = engine_can_run(plan, opts)
    if not plan:
        raise OptionError(f"nothing to run on {opts.engine}: every level needs what it cannot "
                          f"do ({skipped[0][1]})")
    if opts.repeat == 1:
        plan = close_repeated(plan, compose.roles(), claims.close_levels())
    return BenchOptions(**{**opts.__dict__, "plan": tuple(repeated(plan, opts.repeat, opts.seed)),
                           "skipped": tuple(skipped)})


def engine_can_run(plan: list[Level], opts: BenchOptions) -> tuple[list[Level], list[tuple[str, str]]]:
    """The levels of ``plan`` ``opts.engine`` can run, and those it cannot, each as
    (its description, why): a swarm cannot pin a level to its own cores
    (``swarm.check_level``), so a level whose variant, over the run's own limits, names a
    cpuset is left out, before any load."""
    if opts.engine != "swarm":
        return plan, []
    kept, skipped = [], []
    for level in plan:
        try:
            swarm.check_level(level.configuration, level.variant.over(opts.limits).cpuset)
        except swarm.SwarmRefused as exc:
            skipped.append((level.describe(), str(exc)))
        else:
            kept.append(level)
    return kept, skipped


def close_repeated(plan: list[Level], roles: dict[str, list[str]],
                   close: dict[tuple[str, str], list[int]]) -> list[Level]:
    """``plan`` with each level a claim is close on (``close``: ``{(role, workload):
    [claim ids]}``, its configuration a player of the role, under no variant) run
    CLOSE_REPEATS times: repeat k placed k / CLOSE_REPEATS of the way through the plan,
    so that the repeats are interleaved with other configurations' levels, each on a
    connection pool and a machine the others have since used."""
    wanted = {(configuration, workload) for (role, workload) in close
              for configuration in roles.get(role, ())}
    extra: dict[int, list[Level]] = {}
    for level in plan:
        if (level.configuration, level.workload) in wanted and not level.variant:
            for k in range(2, CLOSE_REPEATS + 1):
                at = round(len(plan) * (k - 1) / CLOSE_REPEATS)
                extra.setdefault(at, []).append(replace(level, repeat=k))
    out: list[Level] = []
    for i, level in enumerate(plan):
        out += extra.get(i, [])
        out.append(level)
    return out + extra.get(len(plan), [])


def repeated(plan: list[Level], repeat: int, seed: int) -> list[Level]:
    """``plan`` run ``repeat`` times, the configurations in a new order each time.

    A shuffled order keeps a slow drift of the machine (another process, thermal state)
    from always favouring the same configuration (the omedhabib/WSGI_Benchmarks scripts
    shuffle servers each round for the same reason). Repeats are numbered from 1.
    """
    if repeat == 1:
        return plan
    rng = random.Random(seed)
    configurations = list(dict.fromkeys(level.configuration for level in plan))
    out = []
    for number in range(1, repeat + 1):
        order = configurations[:]
        rng.shuffle(order)
        for configuration in order:
            out += [replace(lv, repeat=number) for lv in plan if lv.configuration == configuration]
    return out


def parse_params(items: list[str], selected: tuple[str, ...]) -> dict:
    """``["io_ms=100"]`` -> ``{"io_ms": 100}``, each checked by the workload that has it.

    Raises:
        OptionError: not NAME=VALUE, no selected workload has NAME, or a bad value.
    """
    params = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep:
            raise OptionError(f"--param takes NAME=VALUE, got {item!r}")
        owners = [w for w in selected if any(p.name == name for p in workloads.get(w).params)]
        if not owners:
            raise OptionError(f"no selected workload ({', '.join(selected)}) has a parameter "
                              f"{name!r}")
        try:
            params[name] = workloads.get(owners[0]).param(name).parse(raw)
        except ValueError as exc:
            raise OptionError(f"--param {exc}") from None
    return params


def validate(opts: BenchOptions, available: list[str]) -> None:
    """Check the options that do not depend on a level.

    Raises:
        OptionError: the first problem found.
    """
    unknown = [s for s in opts.services if s not in available]
    if unknown:
        raise OptionError(f"unknown configuration(s) {', '.join(unknown)}; "
                          f"known: {', '.join(available)}")
    if len(set(opts.services)) != len(opts.services):
        raise OptionError("a configuration is named twice in --services")
    if opts.vus is not None and (not opts.vus or any(not 1 <= v <= MAX_VUS for v in opts.vus)):
        raise OptionError(f"--vus levels must be between 1 and {MAX_VUS}, got {list(opts.vus)}")
    calibration = loadside.last_calibration()
    if opts.rates and calibration:
        check_rates(opts.rates, calibration)
    if not 1 <= opts.repeat <= MAX_REPEAT:
        raise OptionError(f"--repeat must be 1..{MAX_REPEAT}, got {opts.repeat}")
    if not 1 <= opts.load_instances <= MAX_LOAD_INSTANCES:
        raise OptionError(f"--load-instances must be 1..{MAX_LOAD_INSTANCES}, "
                          f"got {opts.load_instances}")
    if opts.duration_s < 2 or opts.duration_s > 600:
        raise OptionError(f"--duration must be 2..600 seconds, got {opts.duration_s}")
    if not 0 <= opts.warmup_s < opts.duration_s:
        raise OptionError(f"--warmup must be at least 0 and less than --duration "
                          f"({opts.duration_s} s), got {opts.warmup_s}")
    if not _LOOPBACK.match(opts.base_url):
        raise OptionError(f"--base-url must be http://127.0.0.1:<port> (load goes to loopback "
                          f"only), got {opts.base_url!r}")
    usable = os.sched_getaffinity(0)
    if not opts.load_cpus or not opts.load_cpus <= usable:
        raise OptionError(f"--load-cpus {sorted(opts.load_cpus)} not among this machine's "
                          f"cores {sorted(usable)}")
    if opts.results_dir.exists() and any(opts.results_dir.iterdir()):
        raise OptionError(f"results directory {opts.results_dir} is not empty; "
                          "name a new one with --results")


def check_rates(rates, calibration) -> None:
    """Refuse a rate the load side cannot offer.

    Raises:
        OptionError: a rate above the most ``calibration`` measured this machine drives.
    """
    too_high = [r for r in rates if r > calibration.max_rps]
    if too_high:
        raise OptionError(
            f"--rates {', '.join(f'{r:g}' for r in too_high)} req/s: more than this machine's "
            f"load side drives through nginx ({calibration.max_rps:.0f} req/s to a zero-work "
            f"answer, measured {calibration.measured}): the instrument cannot offer it")


def build_plan(opts: BenchOptions) -> list[Level]:
    """Every selected workload's plan for the selected configurations, in order."""
    memory = memory_bytes(opts.limits.memory) if opts.limits.memory else None
    if memory is None and opts.services:
        memory = declared_limits(opts.services[0]).memory_bytes
    request = PlanRequest(services=opts.services, vus=opts.vus, params=opts.params,
                          memory_bytes=memory, matrix=opts.matrix, roles=compose.roles(),
                          rates=opts.rates, arrivals=opts.arrivals, objective=opts.objective)
    plan, seen = [], set()
    for name in opts.workloads:
        for level in workloads.get(name).plan(request):
            if level not in seen:
                seen.add(level)
                plan.append(level)
    return plan


def tasks_needed(model, vus: int) -> int:
    """Processes and threads a server starts for ``vus`` closed-model VUs, plus headroom:
    a thread per connection where nothing caps it (the threaded dev server), its pool's
    threads where threads serve requests, none per request for greenlets and processes."""
    if model.limit is None:
        per_request = vus
    elif model.event_loop or model.parallelism >= model.limit:
        per_request = 0  # greenlets, or a process (counted in model.processes) per request
    else:
        per_request = model.limit  # a fixed pool of threads
    return model.processes + per_request + PIDS_HEADROOM


def validate_level(level: Level, opts: BenchOptions) -> None:
    """Check one level against the limits its container would run with.

    Raises:
        OptionError: a quota above the host's cores, a cpuset beyond them, a pids limit
            below the load, a memory limit too small for the server's processes, or a
            knob the configuration's command does not read, or fewer VUs than k6
            instances.
    """
    if level.vus < opts.load_instances:  # a segment with no VU would run nothing of its part
        raise OptionError(f"--load-instances {opts.load_instances} needs at least that many "
                          f"VUs in every level; {level.describe()} has {level.vus}")
    variant = level.variant.over(opts.limits)
    env = variant.env(level.configuration)
    where = f"{level.describe()}:"
    limits = declared_limits(level.configuration, env)
    host_cpus = os.cpu_count() or 1
    if limits.cpus > host_cpus:
        raise OptionError(f"{where} a CPU quota of {limits.cpus:g} is more than this host's "
                          f"{host_cpus} cores")
    try:
        cores = cpuset_size(limits.cpuset)
    except ValueError as exc:
        raise OptionError(f"{where} {exc}") from None
    if max(int(c) for c in re.split(r"[-,]", limits.cpuset)) >= host_cpus or cores > host_cpus:
        raise OptionError(f"{where} cpuset {limits.cpuset} names cores this host "
                          f"({host_cpus} cores) does not have")
    command = compose.config(env)["services"][level.configuration]["command"]
    for knob, _ in variant.knobs:
        # A sentinel value shows whether the command reads the knob's variable at all.
        probe = {**env, knob_variable(level.configuration, knob): _KNOB_SENTINEL}
        if _KNOB_SENTINEL not in compose.config(probe)["services"][level.configuration]["command"]:
            raise OptionError(f"{where} its compose command does not read "
                              f"${{{knob_variable(level.configuration, knob)}}}, so it has no "
                              f"setting {knob!r} a level could change")
    try:
        model = servers.model(servers.declared(command))
    except (UnknownServer, SystemExit, ValueError) as exc:
        raise OptionError(f"{where} cannot read its command {command}: {exc}") from None
    if level.vus > MAX_VUS:
        raise OptionError(
            f"{where} {level.load.describe()} needs {level.vus} VUs (the rate x the "
            f"objective's {opts.objective.describe()} bound x OPEN_VUS_HEADROOM "
            f"{OPEN_VUS_HEADROOM:g}), more than the lab's MAX_VUS {MAX_VUS}")
    tasks = tasks_needed(model, level.vus)
    if limits.pids < tasks:
        raise OptionError(
            f"{where} the pids limit ({limits.pids}) leaves no room for the {tasks} tasks "
            f"{model.formula} starts for {level.vus} VUs (PIDS_HEADROOM {PIDS_HEADROOM} "
            f"included): the limit, not the server, would cap it")
    needed = model.processes * MEMORY_PER_PROCESS_MIB + MEMORY_BASE_MIB
    if limits.memory_bytes < needed * 2**20:
        raise OptionError(
            f"{where} a memory limit of {limits.memory_bytes // 2**20} MiB is too small for "
            f"{model.processes} server processes ({model.formula}): needs at least {needed} "
            f"MiB ({MEMORY_PER_PROCESS_MIB} MiB each + {MEMORY_BASE_MIB})")
