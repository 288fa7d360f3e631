"""Verdicts on the seed texts' claims, computed from a run's records.

``claims.yaml`` lists each claim, its seeds, the measurement that decides it and the name
of its rule here. A rule reads the run's levels (``BenchRecord``), aggregated over repeats
(``cases.Case``: median, min-max, and whether the repeats agree on pass or fail), and returns a
``Verdict``: ``holds``, ``holds only when`` (with the condition it measured), ``does not
hold``, or ``not measured in this run`` when the levels it needs are not in the record.

A rule names the configurations it judges by role (``lab.roles`` labels in compose/,
recorded per run in ``BenchRecord.roles``), never by name, and the roles it reads are
its claim's declaration in claims.yaml (``roles``: ``{purpose: role}``), never written
here. Among a role's players it judges the first with the levels it reads. Every count in
its sentence (workers, threads, processes, the cap) is read from the settings that
configuration's server reported for the run. Every verdict is decided by measured figures:
tests/unit/test_claims.py changes a measurement and sees each rule's verdict change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import yaml

from wsgilab.model import interpreters
from wsgilab.model.capacity import Search, spread
from wsgilab.model.levels import Variant
from wsgilab.model.record import BenchRecord
from wsgilab.model.roles import ROLES, player, players
from wsgilab.model.theory import CPU_BOUND_TOLERANCE
from wsgilab.verdicts import analyses
from wsgilab.verdicts.cases import Case, all_cases, cases, top
from wsgilab.workloads.cpu import QUOTAS, TWO_CORES

CLAIMS_FILE = Path(__file__).with_name("claims.yaml")
HOLDS = "holds"
HOLDS_ONLY_WHEN = "holds only when"
DOES_NOT_HOLD = "does not hold"
NOT_MEASURED = "not measured in this run"
#: A client-bound level "serves every VU" when its peak reaches this fraction of them
#: (theory.CLIENT_BOUND_MIN_FRACTION, the bench's own rule).
EVERY_VU = 0.90
#: Throughput within this fraction of another's is "the same" in a claim: the spread of
#: one level's throughput over repeats here (the sweep: 8%).
SAME_THROUGHPUT = 0.10
#: "Dozens": the fewest requests in flight the word names, two dozen.
DOZENS = 24
#: A process whose threads share one GIL keeps at most its processes' CPUs busy, plus
#: what its threads spend outside the GIL (C code that releases it, the kernel's share of
#: its network I/O): measured 0.94-0.98 CPU for one process under a 2-CPU quota.
GIL_CPU_SLACK = 0.10
#: Workers are "balanced" when the busiest one served at most this fraction more than its
#: fair share (1 / workers): 4 sync workers' busiest served 25-27% here.
BALANCED_WITHIN = 0.20
#: A sweep's memory per worker below this is no cost at all: container memory read at two
#: levels of the same configuration differs by up to 2 MiB (page cache, allocator).
MEMORY_PER_WORKER_MIN_MIB = 4.0


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict: its status, what was measured, and the condition it holds under.

    Attributes:
        status: HOLDS, HOLDS_ONLY_WHEN, DOES_NOT_HOLD or NOT_MEASURED.
        detail: the figures the verdict rests on, in words.
        condition: for HOLDS_ONLY_WHEN, the measured condition.
        disagreements: levels whose repeats disagreed (some passed, some not).
    """

    status: str
    detail: str
    condition: str = ""
    disagreements: tuple[str, ...] = ()

    def text(self) -> str:
        """``holds only when app.run(threaded=False): ...``."""
        head = f"{self.status} {self.condition}".strip()
        return f"{head}: {self.detail}" if self.detail else head


T = TypeVar("T")

#: The roles a claim's rule reads: ``{purpose: role}``, the purpose the rule's own word
#: for it (``threaded``, ``single``), the role a key of ``wsgilab.model.roles.ROLES``.
Roles = Mapping[str, str]


@dataclass(frozen=True)
class Claim:
    """One claim of the seeds (``claims.yaml``).

    Attributes:
        roles: the roles its rule reads, ``{purpose: role}`` (``Roles``).
    """

    id: int
    claim: str
    seeds: tuple[str, ...]
    measurement: str
    rule: str
    roles: Roles = field(hash=False)

    def verdict(self, record: BenchRecord) -> Verdict:
        """This claim's verdict on ``record``: its rule, given the claim's roles.

        Raises:
            KeyError: the rule named in claims.yaml does not exist, or reads a purpose the
                claim's ``roles`` do not declare.
        """
        return RULES[self.rule](record, self.roles)


def load(path: Path = CLAIMS_FILE) -> list[Claim]:
    """The claims, in order.

    Raises:
        KeyError: a claim names a rule that does not exist.
        ValueError: a claim has no ``roles`` mapping, or names a role that
            ``wsgilab.model.roles.ROLES`` does not describe.
    """
    claims = []
    for c in yaml.safe_load(path.read_text()):
        roles = c.get("roles")
        if not isinstance(roles, dict):
            raise ValueError(f"claim {c['id']} in {path.name} has no roles: mapping "
                             "({purpose: role}) naming the roles its rule reads")
        unknown = sorted(str(r) for r in roles.values() if not isinstance(r, str) or r not in ROLES)
        if unknown:
            raise ValueError(f"claim {c['id']} in {path.name} names {', '.join(unknown)}, no role "
                             f"of the lab's (wsgilab/model/roles.py: {', '.join(ROLES)})")
        claims.append(Claim(c["id"], c["claim"], tuple(c["seeds"]), c["measurement"], c["rule"],
                            dict(roles)))
    for claim in claims:
        if claim.rule not in RULES:
            raise KeyError(f"claim {claim.id} names rule {claim.rule!r}, which does not exist")
    return claims


def verdicts(record: BenchRecord) -> list[tuple[Claim, Verdict]]:
    """Every claim with its verdict on ``record``."""
    return [(claim, claim.verdict(record)) for claim in load()]


# --- reading the record ----------------------------------------------------------------

def named(record: BenchRecord, role: str) -> str:
    """The (first) configuration that played ``role`` in the run, or the role's own name
    when no configuration did (for the "needs ..." sentences)."""
    return player(record.roles, role) or role


def first_played(record: BenchRecord, role: str, find: Callable[[str], T | None]) -> T | None:
    """What ``find(configuration)`` returns for the first player of ``role`` (in the order
    ``BenchRecord.roles`` lists them) for which it finds anything (a truthy value), or None
    when it finds nothing for any, or no configuration played ``role``."""
    return next((found for configuration in players(record.roles, role)
                 if (found := find(configuration))), None)


def played(record: BenchRecord, role: str, workload: str = "io", **match) -> Case | None:
    """The measured case with the most VUs (``top``) of the first configuration that played
    ``role`` and has one, or None."""
    return first_played(record, role, lambda c: top(record, c, workload, **match))


def played_cases(record: BenchRecord, role: str, **match) -> list[Case]:
    """Every measured case (declared variant unless ``variant`` is given) of the first
    configuration that played ``role`` and has any, or []."""
    return first_played(record, role, lambda c: cases(record, configuration=c, **match)) or []


def settings(case: Case) -> dict:
    """The settings the configuration's server reported for the case's first repeat."""
    return case.first.configuration.settings


def cap(case: Case) -> int | None:
    """The case's cap on requests in flight (None: none)."""
    return case.first.configuration.capacity.limit


def _disagreements(*found: Case | None) -> tuple[str, ...]:
    return tuple(c.level.describe() for c in found if c is not None and c.disagree)


def _peak(case: Case) -> int:
    return int(case.median("server_peak"))


def _workers(case: Case, word: str = "worker") -> str:
    """``"4 sync workers"``-style words from the case's own settings."""
    count = settings(case).get("workers", 1)
    return f"{count} {word}{'s' if count != 1 else ''}"


def capacity_of(record: BenchRecord, role: str, workload: str = "io"):
    """``(capacity req/s, in flight at it, the search)`` of the first configuration that
    played ``role`` with a search that found one, the median over its repeated searches,
    or None. In flight at the capacity is Little's law, the rate times the service time."""
    return first_played(record, role, lambda c: _capacity(record, c, workload))


def _capacity(record: BenchRecord, configuration: str, workload: str):
    found = [Search.from_dict(c) for c in record.capacities if "error" not in c
             and c["configuration"] == configuration and c["workload"] == workload]
    median = spread(found)[0]
    if median is None:
        return None
    return median, median * found[0].service_ms / 1000.0, found[0]


def scenario_outcome(record: BenchRecord, scenario: str, configuration: str | None) -> dict | None:
    """The outcome of fault ``scenario`` for ``configuration`` (its name, or the name with
    a variant in brackets) in ``record.scenarios``, as recorded by ``faults.run``
    (``{"configuration", "figures", "summary", "passed", ...}``); None when not run."""
    entry = (record.scenarios or {}).get(scenario) or {}
    return next((o for o in entry.get("outcomes", [])
                 if o["configuration"].split(" (")[0] == configuration), None)


def played_outcome(record: BenchRecord, scenario: str, role: str) -> dict | None:
    """``scenario_outcome`` of the first configuration that played ``role`` with one."""
    return first_played(record, role, lambda c: scenario_outcome(record, scenario, c))


# --- the rules ---------------------------------------------------------------------

def dev_server_one_at_a_time(record: BenchRecord, roles: Roles) -> Verdict:
    default, single = played(record, roles["threaded"]), played(record, roles["single"])
    if not default or not single:
        return Verdict(NOT_MEASURED, f"needs io levels of {named(record, roles['threaded'])} and "
                                     f"{named(record, roles['single'])}")
    how = ("threaded, Flask's default since 1.0" if settings(default).get("threaded")
           else "not threaded")
    detail = (f"app.run() ({how}) held {_peak(default)} "
              f"of {default.level.vus} VUs at once; app.run(threaded=False) held "
              f"{_peak(single)} of {single.level.vus}")
    found = _disagreements(default, single)
    if _peak(default) == 1:
        return Verdict(HOLDS, detail, disagreements=found)
    if _peak(single) == 1:
        return Verdict(HOLDS_ONLY_WHEN, detail, "app.run(threaded=False)", found)
    return Verdict(DOES_NOT_HOLD, detail, disagreements=found)


def threaded_dev_server(record: BenchRecord, roles: Roles) -> Verdict:
    case = played(record, roles["threaded"])
    if not case:
        return Verdict(NOT_MEASURED, f"needs io levels of {named(record, roles['threaded'])}")
    vus = case.level.vus
    detail = (f"{_peak(case)} of {vus} VUs in flight at once, {case.span('throughput_rps')} "
              f"req/s: a thread per connection")
    status = HOLDS if _peak(case) >= EVERY_VU * vus else DOES_NOT_HOLD
    return Verdict(status, detail, disagreements=_disagreements(case))


def forking_dev_server(record: BenchRecord, roles: Roles) -> Verdict:
    case = played(record, roles["forking"])
    processes = settings(case).get("processes") if case else None
    if not case or not processes or case.level.vus <= processes:
        return Verdict(NOT_MEASURED, f"needs an io level of {named(record, roles['forking'])} "
                                     "above its processes")
    detail = (f"peak {_peak(case)} at {case.level.vus} VUs; it sustained "
              f"{case.span('little_inflight', '{:.2f}')} of {processes} (a fork per request)")
    return Verdict(HOLDS if _peak(case) == processes else DOES_NOT_HOLD, detail,
                   disagreements=_disagreements(case))


def sync_workers(record: BenchRecord, roles: Roles) -> Verdict:
    def above_workers(configuration: str) -> list[Case]:
        return [c for c in all_cases(record, configuration=configuration, measured_only=True)
                if c.level.closed and settings(c).get("worker_class") == "sync"
                and c.level.vus > settings(c)["workers"]]

    found = first_played(record, roles["sync"], above_workers) or []
    if not found:
        return Verdict(NOT_MEASURED, f"needs {named(record, roles['sync'])} levels with more "
                                     "VUs than workers")
    pairs = sorted({(settings(c)["workers"], _peak(c)) for c in found})
    wrong = [(w, p) for w, p in pairs if w != p]
    detail = "; ".join(f"{w} worker{'s' if w > 1 else ''}: {p} at once" for w, p in pairs)
    return Verdict(DOES_NOT_HOLD if wrong else HOLDS, detail,
                   disagreements=_disagreements(*found))


def sync_workers_start_threads(record: BenchRecord, roles: Roles) -> Verdict:
    case = played(record, roles["sync"])
    if not case or case.level.vus <= settings(case)["workers"]:
        return Verdict(NOT_MEASURED, f"needs an io level of {named(record, roles['sync'])} "
                                     "above its workers")
    workers = settings(case)["workers"]
    detail = (f"{_workers(case, 'sync worker')} held {_peak(case)} at {case.level.vus} VUs, "
              f"{case.span('throughput_rps')} req/s; a sync worker runs one request at a time")
    return Verdict(HOLDS if _peak(case) > workers else DOES_NOT_HOLD, detail,
                   disagreements=_disagreements(case))


def two_by_four(record: BenchRecord, roles: Roles) -> Verdict:
    case = played(record, roles["gthread"])
    if not case:
        return Verdict(NOT_MEASURED, f"needs io levels of {named(record, roles['gthread'])}")
    limit = cap(case)
    sustained = case.median("little_inflight")
    others = []
    bounded = played(record, roles["bounded"])
    if bounded:
        others.append(f"with --worker-connections {settings(bounded)['worker_connections']}: "
                      f"{bounded.span('little_inflight', '{:.2f}')}")
    uwsgi = played(record, roles["uwsgi"])
    if uwsgi:
        others.append(f"uWSGI's {settings(uwsgi)['processes']} x {settings(uwsgi)['threads']}: "
                      f"{uwsgi.span('little_inflight', '{:.2f}')}")
    detail = (f"{case.first.configuration.capacity.formula}: peak {_peak(case)} at "
              f"{case.level.vus} VUs, sustained {case.span('little_inflight', '{:.2f}')} of "
              f"{limit}" + (f" ({'; '.join(others)})" if others else ""))
    if _peak(case) != limit:
        return Verdict(DOES_NOT_HOLD, detail, disagreements=_disagreements(case))
    if sustained >= EVERY_VU * limit:
        return Verdict(HOLDS, detail, disagreements=_disagreements(case))
    return Verdict(HOLDS_ONLY_WHEN, detail,
                   "counted at the peak: gunicorn's workers take connections they have no "
                   "free thread for (benoitc/gunicorn#3433), unless --worker-connections = "
                   "threads", _disagreements(case))


#: The real-I/O cases whose waiting is C code a loop's monkey-patching cannot reach:
#: (workload, axis, value, backend figure).
C_WAITS = (("db", "driver", "psycopg2", "db_active_peak"),
           ("upstream", "client", "pycurl", "upstream_peak"))


def _blocked_by_c(record: BenchRecord, role: str) -> list[str]:
    """Sentences for the C-waiting cases of ``role`` above its workers that did not hold
    every VU in flight (the waits blocked the loop)."""
    found = []
    for workload, axis, value, figure in C_WAITS:
        for c in played_cases(record, role, workload=workload):
            if c.level.vus <= c.first.configuration.capacity.parallelism:
                continue  # no more VUs than workers: blocking and cooperative look alike
            if (c.level.param(axis) == value and _peak(c) < EVERY_VU * c.level.vus
                    and dict(c.level.params).get("connections", "per-request") == "per-request"):
                found.append(f"{value}: {_peak(c)} of {c.level.vus} "
                             f"({c.median(figure):.0f} at the {workload})")
    return found


def async_while_waiting(record: BenchRecord, roles: Roles) -> Verdict:
    io = [c for c in (played(record, roles["gevent"]), played(record, roles["eventlet"])) if c]
    if not io:
        return Verdict(NOT_MEASURED, f"needs io levels of {named(record, roles['gevent'])} or "
                                     f"{named(record, roles['eventlet'])}")
    parts = [f"{c.level.configuration}: {_peak(c)} of {c.level.vus} in flight on io" for c in io]
    held = all(_peak(c) >= EVERY_VU * c.level.vus for c in io)
    blocked = _blocked_by_c(record, roles["gevent"])
    if not held:
        return Verdict(DOES_NOT_HOLD, "; ".join(parts), disagreements=_disagreements(*io))
    if blocked:
        return Verdict(HOLDS_ONLY_WHEN, "; ".join(parts) + "; with C code that waits: "
                       + "; ".join(blocked),
                       "the waiting goes through Python's patched sockets",
                       _disagreements(*io))
    return Verdict(HOLDS, "; ".join(parts), disagreements=_disagreements(*io))


def _balance(case: Case) -> tuple[float, float, int] | None:
    """(busiest worker's share, fair share, requests the master served) of a case, or None
    without per-worker counts or with a single worker."""
    share = case.usage("served_top_share")
    workers = settings(case).get("workers", 1)
    if not share or workers < 2:
        return None
    return share, 1 / workers, int(case.usage("served_by_master") or 0)


def master_load_balances(record: BenchRecord, roles: Roles) -> Verdict:
    found = [(c, b) for c in (played(record, roles["gthread"]), played(record, roles["sync"]))
             if c and (b := _balance(c))]
    if not found:
        return Verdict(NOT_MEASURED, f"needs io levels of {named(record, roles['gthread'])} "
                                     f"or {named(record, roles['sync'])} with per-worker counts")
    master = sum(b[2] for _, b in found)
    parts = [f"{c.first.configuration.capacity.formula} ({c.level.configuration}): busiest "
             f"worker {b[0]:.0%} of the requests, fair share {b[1]:.0%}" for c, b in found]
    detail = (f"the master served {master} requests; the workers accept from the shared "
              f"socket: " + "; ".join(parts))
    balanced = all(share <= fair * (1 + BALANCED_WITHIN) for _, (share, fair, _) in found)
    cases_ = _disagreements(*(c for c, _ in found))
    if master > 0 and balanced:
        return Verdict(HOLDS, detail, disagreements=cases_)
    if balanced:
        return Verdict(HOLDS_ONLY_WHEN, detail,
                       "'balancing' means the kernel's: each worker accepts from the shared "
                       "socket, and one that accepts only when free takes its share", cases_)
    return Verdict(DOES_NOT_HOLD, detail, disagreements=cases_)


def async_dozens_or_hundreds(record: BenchRecord, roles: Roles) -> Verdict:
    one = played(record, roles["gevent"], variant=Variant(knobs=(("workers", "1"),)))
    ceiling = played_outcome(record, "ceiling", roles["gevent"])
    held = ceiling["figures"]["held"] if ceiling else 0
    parts = []
    if one:
        parts.append(f"{_workers(one, 'gevent worker')} held {_peak(one)} at once "
                     f"({one.level.vus} VUs)")
    if ceiling:
        parts.append(f"the ceiling scenario: {ceiling['configuration']} held {held} in flight "
                     f"(what stopped it: {ceiling['figures']['stopped_by']})")
    measured = capacity_of(record, roles["gevent"])
    if measured:
        rate, inflight, found = measured
        parts.append(f"{found.configuration}'s capacity under {found.objective.percentile} <= "
                     f"{found.objective.bound_ms:g} ms: {rate:.0f} req/s, {inflight:.0f} in "
                     f"flight at once (Little's law)")
    if not parts:
        return Verdict(NOT_MEASURED, "needs an io level of one gevent worker, the ceiling "
                                     "scenario, or a capacity search")
    most = max(([_peak(one)] if one else []) + ([held] if ceiling else [])
               + ([measured[1]] if measured else []))
    return Verdict(HOLDS if most >= DOZENS else DOES_NOT_HOLD, "; ".join(parts),
                   disagreements=_disagreements(one))


def cpu_bound_gil(record: BenchRecord, roles: Roles) -> Verdict:
    two = Variant(cpus=max(QUOTAS), cpuset=TWO_CORES)
    sync = played(record, roles["sync"], "cpu", variant=two)
    threads = [c for c in (played(record, roles["one_process"], "cpu", variant=two),
                           played(record, roles["threaded"], "cpu", variant=two)) if c]
    if not sync or not threads:
        return Verdict(NOT_MEASURED, "needs cpu levels of sync and threaded configurations "
                                     f"at {max(QUOTAS):g} CPUs")

    def processes(case: Case) -> int:
        return case.first.configuration.capacity.parallelism

    parts = [f"{_workers(sync, 'sync worker')} used {sync.usage('app_cpu_fraction'):.2f} CPUs, "
             f"{sync.span('throughput_rps')} req/s"]
    parts += [f"{c.level.configuration} ({processes(c)} process of threads) "
              f"{c.usage('app_cpu_fraction'):.2f} CPUs, {c.span('throughput_rps')} req/s"
              for c in threads]
    limited = all(c.usage("app_cpu_fraction") <= processes(c) * (1 + GIL_CPU_SLACK) for c in threads)
    usable = min(processes(sync), max(QUOTAS))
    suits = sync.usage("app_cpu_fraction") >= usable * (1 - CPU_BOUND_TOLERANCE)
    detail = f"under a {max(QUOTAS):g}-CPU quota: " + "; ".join(parts)
    if not (limited and suits):
        return Verdict(DOES_NOT_HOLD, detail, disagreements=_disagreements(sync, *threads))
    free = without_the_gil(record, two, roles)
    if free is None:
        return Verdict(HOLDS, detail, disagreements=_disagreements(sync, *threads))
    python, ft_sync, ft_threads = free
    detail += (f"; on free-threaded {python} (`make bench-python`): "
               + "; ".join(f"{c.level.configuration} {c.usage('app_cpu_fraction'):.2f} CPUs, "
                           f"{c.span('throughput_rps')} req/s" for c in [ft_sync, *ft_threads] if c))
    escaped = [c for c in ft_threads  # more CPUs than its processes could use with a GIL
               if c.usage("app_cpu_fraction") > settings(c).get("workers", 1) * (1 + GIL_CPU_SLACK)]
    if not escaped:
        return Verdict(HOLDS, detail, disagreements=_disagreements(sync, *threads))
    return Verdict(HOLDS_ONLY_WHEN, detail, "the interpreter has a GIL: on the free-threaded "
                   "build, " + ", ".join(c.level.configuration for c in escaped)
                   + f" used more CPUs than {'it has' if len(escaped) == 1 else 'they have'} "
                   f"processes (GIL_CPU_SLACK {GIL_CPU_SLACK:.0%})",
                   _disagreements(sync, *threads, ft_sync, *ft_threads))


def without_the_gil(record: BenchRecord, two: Variant,
                    roles: Roles) -> tuple[str, Case | None, list[Case]] | None:
    """The free-threaded cpu cases at ``two``'s limits (``make bench-python``'s record,
    merged into the findings' record): (interpreter, sync workers, the threaded
    configurations), or None when there are none. ``roles`` is claim 10's: the roles
    ``sync``, ``one_process`` and ``threaded``.

    Raises:
        KeyError: ``roles`` lacks one of those purposes.
    """
    for name, interp in sorted(interpreters.of_record(record.pythons).items()):
        if not interp.free_threaded:
            continue
        variant = replace(two, python=name)
        threads = [c for c in (played(record, roles["one_process"], "cpu", variant=variant),
                               played(record, roles["threaded"], "cpu", variant=variant)) if c]
        if threads:
            return name, played(record, roles["sync"], "cpu", variant=variant), threads
    return None


def io_async_throughput_memory(record: BenchRecord, roles: Roles) -> Verdict:
    gevent, sync, threaded = (played(record, roles["gevent"]), played(record, roles["sync"]),
                              played(record, roles["threaded"]))
    if not gevent or not sync:
        return Verdict(NOT_MEASURED, f"needs io levels of {named(record, roles['gevent'])} and "
                                     f"{named(record, roles['sync'])}")

    def mib(case: Case) -> float:
        return (case.usage("app_memory_bytes") or 0) / 2**20

    detail = (f"at {gevent.level.vus} VUs, gevent ({_workers(gevent)}) "
              f"{gevent.span('throughput_rps')} req/s in {mib(gevent):.0f} MiB against "
              f"{_workers(sync, 'sync worker')}' {sync.span('throughput_rps')} req/s in "
              f"{mib(sync):.0f} MiB")
    throughput = {"gevent": gevent.median("throughput_rps"), "sync": sync.median("throughput_rps"),
                  "threads": threaded.median("throughput_rps") if threaded else None}
    capacities = {"gevent": capacity_of(record, roles["gevent"]),
                  "sync": capacity_of(record, roles["sync"]),
                  "threads": capacity_of(record, roles["threaded"])}
    if capacities["gevent"] and capacities["sync"]:  # what each serves under the objective
        throughput = {name: c[0] if c else None for name, c in capacities.items()}
        detail += "; capacity under the objective: " + ", ".join(
            f"{name} {c[0]:.1f} req/s" for name, c in capacities.items() if c)
    better = (throughput["gevent"] > throughput["sync"]
              and mib(gevent) / _peak(gevent) < mib(sync) / _peak(sync))
    if not better:
        return Verdict(DOES_NOT_HOLD, detail, disagreements=_disagreements(gevent, sync))
    if threaded and throughput["threads"] and throughput["threads"] >= (
            1 - SAME_THROUGHPUT) * throughput["gevent"] and mib(threaded) <= mib(gevent):
        return Verdict(HOLDS_ONLY_WHEN, detail + f"; one process of threads (app.run()) "
                       f"{threaded.span('throughput_rps')} req/s in {mib(threaded):.0f} MiB",
                       "compared with sync workers: threads do as well",
                       _disagreements(gevent, sync, threaded))
    return Verdict(HOLDS, detail, disagreements=_disagreements(gevent, sync))


def workers_vs_cores(record: BenchRecord, roles: Roles) -> Verdict:
    swept = analyses.sweep(record, roles["sync"])
    if not swept:
        return Verdict(NOT_MEASURED, "needs the cpu sweep of sync workers on 1 CPU")
    best = max(p.throughput_rps for p in swept.points)
    most = swept.points[-1]
    kept = most.throughput_rps / best
    detail = (f"on 1 CPU, {swept.points[0].workers} to {most.workers} sync workers gave "
              f"{min(p.throughput_rps for p in swept.points):.1f}-{best:.1f} req/s "
              f"({most.workers} workers kept {kept:.0%} of the best); memory "
              f"{swept.points[0].memory_bytes / 2**20:.0f} to {most.memory_bytes / 2**20:.0f} MiB "
              f"({swept.memory_per_worker_bytes / 2**20:.1f} MiB per worker)")
    if kept >= 1 - SAME_THROUGHPUT:
        return Verdict(HOLDS_ONLY_WHEN, detail,
                       "memory is what runs out: context switching cost no measurable throughput")
    return Verdict(HOLDS, detail)


def sizing_rules(record: BenchRecord, roles: Roles) -> Verdict:
    results = analyses.sizing_rules(record, role=roles["sync"])
    if not results:
        return Verdict(NOT_MEASURED, "needs the cpu workload's sizing levels")
    facts = results[0].container
    rule = next(r for r in results if r.rule.name == "gunicorn")
    def rps(value: float | None) -> str:
        return "not measured" if value is None else f"{value:.1f} req/s"

    others = "; ".join(f"{r.rule.name}: {r.here.describe()}, cpu {rps(r.cpu_rps)}, io {rps(r.io_rps)}"
                       for r in results if r.rule.name != "gunicorn" and r.cpu_rps and r.io_rps)
    memory = (f", about {rule.projected_memory_bytes / 2**20:,.0f} MiB"
              if rule.projected_memory_bytes else "")
    detail = (f"inside a {facts.get('cfs_quota_cpus')}-CPU container os.cpu_count() is "
              f"{facts.get('os_cpu_count')}: 2 x cores + 1 gave {rule.here.describe()}, "
              f"cpu {rps(rule.cpu_rps)}, io {rps(rule.io_rps)}, and would give "
              f"{rule.projected.describe()} on a {analyses.PROJECTED_HOST_CPUS}-core host"
              f"{memory}. {others}")
    # The rule holds where its count matches what the container can use: 2 x its CPUs + 1,
    # here and on the large host (a quota stays what it is; a cpuset grows with the host).
    quota = facts.get("cfs_quota_cpus")
    usable = quota or facts.get("affinity_cpus") or 1
    usable_there = quota or analyses.PROJECTED_HOST_CPUS
    if rule.here.workers > 2 * usable + 1 or rule.projected.workers > 2 * usable_there + 1:
        return Verdict(DOES_NOT_HOLD, detail)
    return Verdict(HOLDS, detail)


def worker_memory(record: BenchRecord, roles: Roles) -> Verdict:
    swept = analyses.sweep(record, roles["sync"])
    if not swept:
        return Verdict(NOT_MEASURED, "needs the cpu sweep of sync workers")
    sync = played(record, roles["sync"])
    declared = sync.first.configuration.limits.memory_bytes if sync else None
    most = swept.points[-1]
    per_worker = swept.memory_per_worker_bytes / 2**20
    detail = (f"{per_worker:.1f} MiB per sync worker; {most.workers} workers held "
              f"{most.memory_bytes / 2**20:.0f} MiB")
    if declared and per_worker > 0:
        fits = int((declared - swept.base_memory_bytes) // swept.memory_per_worker_bytes)
        detail += f"; the declared {declared // 2**20} MiB fits about {fits}"
    oom = played_outcome(record, "memory", roles["sync"])
    if oom:
        detail += f"; past a limit: {oom['summary']}"
    return Verdict(HOLDS if per_worker >= MEMORY_PER_WORKER_MIN_MIB else DOES_NOT_HOLD, detail)


def async_library_compatibility(record: BenchRecord, roles: Roles) -> Verdict:
    def db_case(driver: str) -> Case | None:
        # Only a load above the workers can tell a blocking driver from a cooperative one.
        found = [c for c in played_cases(record, roles["gevent"], workload="db")
                 if c.level.param("driver") == driver and c.level.param("connections") == "per-request"
                 and c.level.vus > c.first.configuration.capacity.parallelism]
        return min(found, key=lambda c: c.level.vus) if found else None

    blocking, green = db_case("psycopg2"), db_case("psycopg2-green")
    if not blocking or not green:
        return Verdict(NOT_MEASURED, "needs gevent db levels with psycopg2 and psycopg2-green "
                                     "above the workers")
    detail = (f"under gevent at {blocking.level.vus} VUs: psycopg2 ran "
              f"{blocking.median('db_active_peak'):.0f} queries at once "
              f"({blocking.span('throughput_rps')} req/s); the same driver made cooperative by "
              f"psycogreen {green.median('db_active_peak'):.0f} ({green.span('throughput_rps')} req/s)")
    pycurl = [c for c in played_cases(record, roles["gevent"], workload="upstream")
              if c.level.param("client") == "pycurl"]
    if pycurl:
        detail += f"; pycurl {pycurl[0].median('upstream_peak'):.0f} calls at once"
    holds = blocking.median("db_active_peak") < green.median("db_active_peak")
    return Verdict(HOLDS if holds else DOES_NOT_HOLD, detail,
                   disagreements=_disagreements(blocking, green))


def _expects_gevent(configuration) -> bool:
    """Whether a configuration's settings ask for a gevent loop (gunicorn's gevent worker
    classes, uWSGI's --gevent)."""
    s = configuration.settings
    return str(s.get("worker_class", "")).startswith("gevent") or bool(s.get("gevent"))


def monkey_patching(record: BenchRecord, roles: Roles) -> Verdict:
    has = record.environment.get("gevent_has_monkey_patch")
    gevent_levels = [e for e in record.levels if e.configuration and _expects_gevent(e.configuration)]
    if has is None and not gevent_levels:
        return Verdict(NOT_MEASURED, "needs gevent configurations")
    patched = sorted({e.level.configuration for e in gevent_levels
                      if e.configuration.runtime.get("patched_by") == "gevent"})
    unpatched = sorted({e.level.configuration for e in gevent_levels} - set(patched))
    preload = [c for c in played_cases(record, roles["preload"], workload="db")
               if c.level.param("driver") == "psycopg"]
    plain = [c for c in played_cases(record, roles["gevent"], workload="db")
             if c.level.param("driver") == "psycopg" and c.level.param("connections") == "per-request"
             and c.level.vus == (preload[0].level.vus if preload else 0)]
    parts = []
    if has is False:
        parts.append("gevent has no monkey_patch(); its entry point is gevent.monkey.patch_all()")
    if patched:
        parts.append(f"gunicorn's gevent worker (and uWSGI's --gevent-early-monkey-patch) patched "
                     f"every worker: {', '.join(patched)} report patched_by=gevent")
    if unpatched:
        parts.append(f"{', '.join(unpatched)} ran a gevent loop unpatched")
    preload_broke = False
    if preload and plain:
        late, early = preload[0].median("db_active_peak"), plain[0].median("db_active_peak")
        preload_broke = late < early
        parts.append(f"with --preload the drivers were imported before the patch and psycopg 3 "
                     f"ran {late:.0f} queries at once against {early:.0f} without")
    if unpatched:
        return Verdict(DOES_NOT_HOLD, "; ".join(parts))
    if has and not preload_broke:
        return Verdict(HOLDS, "; ".join(parts))
    return Verdict(HOLDS_ONLY_WHEN, "; ".join(parts),
                   "called as gevent.monkey.patch_all(), before the app and its libraries "
                   "are imported (gunicorn's worker does, unless --preload imports them first)")


def two_tabs(record: BenchRecord, roles: Roles) -> Verdict:
    blog, single, gevent = (played(record, roles["threaded"]), played(record, roles["single"]),
                            played(record, roles["gevent"]))
    if not blog or not single or not gevent:
        return Verdict(NOT_MEASURED, f"needs io levels of {named(record, roles['threaded'])}, "
                                     f"{named(record, roles['single'])} and "
                                     f"{named(record, roles['gevent'])}")
    detail = (f"the blog's app.run(debug=False) held {_peak(blog)} at once; "
              f"app.run(threaded=False) held {_peak(single)}; gevent {_peak(gevent)}")
    found = _disagreements(blog, single, gevent)
    if _peak(gevent) < 2 or _peak(single) > 1:
        return Verdict(DOES_NOT_HOLD, detail, disagreements=found)
    if _peak(blog) > 1:
        return Verdict(HOLDS_ONLY_WHEN, detail, "the dev server runs with threaded=False", found)
    return Verdict(HOLDS, detail, disagreements=found)


def builtin_server_production(record: BenchRecord, roles: Roles) -> Verdict:
    threaded, gevent = played(record, roles["threaded"]), played(record, roles["gevent"])
    exhaustion = played_outcome(record, "threads", roles["threaded"])
    if not (threaded and gevent) and not exhaustion:
        return Verdict(NOT_MEASURED, f"needs io levels of {named(record, roles['threaded'])} and "
                                     f"{named(record, roles['gevent'])}, or the threads scenario")
    parts, scales, uncapped = [], None, False
    if threaded and gevent:
        scales = threaded.median("throughput_rps") >= (1 - SAME_THROUGHPUT) * gevent.median(
            "throughput_rps")
        mine, theirs = capacity_of(record, roles["threaded"]), capacity_of(record, roles["gevent"])
        if mine and theirs:  # under the objective, not at one closed load
            scales = mine[0] >= (1 - SAME_THROUGHPUT) * theirs[0]
            parts.append(f"capacity under the objective: {mine[0]:.1f} req/s against gevent's "
                         f"{theirs[0]:.1f}")
        uncapped = cap(threaded) is None
        parts.append(f"for I/O: {_peak(threaded)} at once, {threaded.span('throughput_rps')} "
                     f"req/s against gevent's {gevent.span('throughput_rps')}"
                     + ("; no cap on threads (a thread per connection, up to the container's "
                        "pids limit) and no worker supervision" if uncapped else ""))
    failed = (exhaustion["figures"].get("failures") or 0) if exhaustion else 0
    if exhaustion:
        parts.append(f"past the pids limit: {exhaustion['summary']}")
    found = _disagreements(threaded, gevent)
    if scales is False:
        return Verdict(HOLDS, "; ".join(parts), disagreements=found)
    if uncapped or failed:
        return Verdict(HOLDS_ONLY_WHEN, "; ".join(parts),
                       "for reasons other than scaling: no cap on threads, no supervision", found)
    return Verdict(DOES_NOT_HOLD, "; ".join(parts), disagreements=found)


RULES = {fn.__name__: fn for fn in (
    dev_server_one_at_a_time, threaded_dev_server, forking_dev_server, sync_workers,
    sync_workers_start_threads, two_by_four, async_while_waiting, master_load_balances,
    async_dozens_or_hundreds, cpu_bound_gil, io_async_throughput_memory, workers_vs_cores,
    sizing_rules, worker_memory, async_library_compatibility, monkey_patching, two_tabs,
    builtin_server_production)}
