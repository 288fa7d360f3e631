"""Verdicts on the seed texts' claims, computed from a run's records.

``claims.yaml`` lists each claim, its seeds, the measurement that decides it and the name
of its rule here. A rule reads the run's levels (``BenchRecord``), aggregated over repeats
(``cases.Case``: median, min-max, and whether the repeats agree on pass or fail), and returns a
``Verdict``: ``holds``, ``holds only when`` (with the condition it measured), ``does not
hold``, ``not measured in this run`` when the levels it needs are not in the record, or
``undecided within the noise on this machine``.

Every comparison of a figure with a threshold is decided over the figure's repeats
(``noise``): a rule states its comparisons and a function from their sides to a verdict
(``judge``), and a comparison whose repeats straddle its threshold leaves the verdict
undecided where its side would change it, with the figures and what would decide it in
the sentence. A figure measured once is one repeat, and decides as a single number does.

A rule names the configurations it judges by role (``lab.roles`` labels in compose/,
recorded per run in ``BenchRecord.roles``), never by name, and the roles it reads are
its claim's declaration in claims.yaml (``roles``: ``{purpose: role}``), never written
here. Among a role's players it judges the first with the levels it reads. Every count in
its sentence (workers, threads, processes, the cap) is read from the settings that
configuration's server reported for the run. A verdict that reads another recorded run
than the one it is rendered from (records merged by ``wsgilab.report.findings.combine``:
``LevelRecord.run``, ``BenchRecord.runs``) names that run in its sentence. Every verdict
is decided by measured figures: tests/unit/test_claims.py changes a measurement and sees
each rule's verdict change.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import yaml

from wsgilab.model import interpreters
from wsgilab.model.capacity import Search
from wsgilab.model.levels import Variant
from wsgilab.model.record import BenchRecord
from wsgilab.model.roles import ROLES, player, players
from wsgilab.model.theory import CPU_BOUND_TOLERANCE, OBSERVER_SAMPLING_TOLERANCE
from wsgilab.verdicts import analyses, noise
from wsgilab.verdicts.cases import Case, all_cases, cases, top
from wsgilab.verdicts.noise import Comparison, Figure, compare, threshold
from wsgilab.workloads.cpu import QUOTAS, TWO_CORES

CLAIMS_FILE = Path(__file__).with_name("claims.yaml")
HOLDS = "holds"
HOLDS_ONLY_WHEN = "holds only when"
DOES_NOT_HOLD = "does not hold"
NOT_MEASURED = "not measured in this run"
#: The repeats of a figure the verdict turns on straddle the rule's threshold (``noise``).
UNDECIDED = "undecided within the noise on this machine"

# Every threshold below says what it was derived from: a record under records/ (which
# figures), or the theory's tolerance, or that no record supports it.

#: A level "serves every VU" (its peak against its VUs; claim 6: its Little's L against
#: its cap) when it reaches this fraction of them: the theory's tolerance for a
#: client-bound level (theory.CLIENT_BOUND_MIN_FRACTION), not a spread measured here.
#: records/gthread-repeats: the configurations that keep their 8 threads busy at 40 VUs
#: (gthread --worker-connections 4, 1 x 8, uWSGI's 2 x 4) sustained 7.92-7.99 of 8 over
#: five repeats each, 0.99 of it; gthread 2 x 4's own 6.42-7.96 straddles 0.90 x 8.
EVERY_VU = 0.90
#: Throughput within this fraction of another's is "the same" in a claim (claims 11, 12,
#: 18). No record measures the spread it stands for, and the sweep's "8%" once cited here
#: is in none (records/default's sweep spans 0.6%). records/gthread-repeats: at most 1.6%
#: ((max - min) / median over five repeats) for every configuration whose cap binds, at 10
#: and 40 VUs, and 19-26% for gthread 2 x 4, whose scheduling is the noise;
#: records/default and records/python: the same 3.11 sync level at 37.0 and 33.1 req/s, two
#: runs of one day (12%). 0.10 is a judgement between those, not a measurement.
SAME_THROUGHPUT = 0.10
#: "Dozens": the fewest requests in flight the word names, two dozen. The claim's word,
#: read; no record bears on it.
DOZENS = 24
#: A process whose threads share one GIL keeps at most its processes' CPUs busy, plus
#: what its threads spend outside the GIL (C code that releases it, the kernel's share of
#: its network I/O). Calibrated on the run it judges: records/default's one-process-of-
#: threads levels under a 2-CPU quota used 0.95 and 0.98 CPU. Beside it, and judged by no
#: verdict: records/python's GIL builds (3.11, 3.13) used 0.93-0.97 CPU for one process
#: of threads, its free-threaded 3.13t 1.75-1.81. 0.10 is a judgement above the GIL
#: figures, not a measured spread: no record repeats these levels.
GIL_CPU_SLACK = 0.10
#: Workers are "balanced" when the busiest one served at most this fraction more than its
#: fair share (1 / workers), plus one request (the share's own resolution: a level of 160
#: requests cannot split closer than 1/160). Measured, not judged: records/gthread-repeats
#: (2026-12-02), where each worker accepts only when a thread is free (gthread
#: --worker-connections 4, uWSGI 2 x 4), the busiest of two served at most 50.6% over five
#: repeats at 10 and 40 VUs: 0.6 points above fair, 0.012 of it (``balanced_spread``
#: recomputes it from the record, a unit test compares). It was 0.20, a judgement: with it
#: claim 8 read undecided in one default run and "does not hold" in the next, since
#: gthread 2 x 4's busiest share (56-73% over seventeen levels in five runs) straddled 60%.
BALANCED_WITHIN = 0.012
#: A sweep's memory per worker below this is no cost at all. records/gthread-repeats: the
#: container memory of one level differs by up to 1.0 MiB over five repeats (gthread 1 x 8
#: at 40 VUs, 53.2-54.2 MiB); 4.0 is four times that, a judgement. records/default's sweep
#: gives 36.4 MiB per worker, far above it.
MEMORY_PER_WORKER_MIN_MIB = 4.0
#: Claim 11: gevent's throughput is "better" than sync workers' only beyond SAME_THROUGHPUT
#: of it, since within it the two are the same. No record repeats these levels: records/
#: default has 156.0 against 16.0 req/s at 40 VUs, records/capacity 987 against 16 req/s,
#: both far beyond it.
ASYNC_BETTER_BY = SAME_THROUGHPUT
#: Claim 15: a blocking driver runs "fewer queries at once" than its cooperative twin only
#: below the twin's count less this fraction. PostgreSQL's count is sampled, and may fall
#: short of what ran by the theory's OBSERVER_SAMPLING_TOLERANCE: a shortfall the sampling
#: alone can make tells no driver from another. The theory's tolerance, not a measured
#: spread: no record repeats the db levels (records/default: 4 against 16 at 16 VUs).
BLOCKING_FEWER_BY = OBSERVER_SAMPLING_TOLERANCE
#: Claim 16: psycopg 3 under --preload runs "fewer queries at once" than without only below
#: that count less this fraction, for the same reason as BLOCKING_FEWER_BY (the sampled
#: count). No record repeats these levels (records/default: 4 against 16 at 16 VUs).
PRELOAD_FEWER_BY = OBSERVER_SAMPLING_TOLERANCE


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict: its status, what was measured, and the condition it holds under.

    Attributes:
        status: HOLDS, HOLDS_ONLY_WHEN, DOES_NOT_HOLD, NOT_MEASURED or UNDECIDED.
        detail: the figures the verdict rests on, in words; when UNDECIDED, also the
            comparisons whose repeats straddle their thresholds and what would decide them.
        condition: for HOLDS_ONLY_WHEN, the measured condition.
        disagreements: levels whose repeats disagreed (some passed, some not).
        readings: the comparisons the rule decided it by (``noise.Comparison``), in order.
    """

    status: str
    detail: str
    condition: str = ""
    disagreements: tuple[str, ...] = ()
    readings: tuple[Comparison, ...] = ()

    def text(self) -> str:
        """``holds only when app.run(threaded=False): ...``."""
        head = f"{self.status} {self.condition}".strip()
        return f"{head}: {self.detail}" if self.detail else head


#: What a rule decides from its comparisons' sides: (status, condition).
Outcome = tuple[str, str]
#: ``judge`` tries every combination of sides of at most this many straddling
#: comparisons (2 ** 12 calls of a rule's ``decide``); past it, the verdict is undecided
#: without asking which of them it turns on.
MOST_STRADDLES_TRIED = 12
#: A rule's reading: one comparison, or a list of them (its side is then a list of sides).
Reading = Comparison | Sequence[Comparison]


def judge(detail: str, decide: Callable[..., Outcome], *readings: Reading,
          found: tuple[str, ...] = ()) -> Verdict:
    """The verdict ``decide`` gives on the sides of ``readings``, or UNDECIDED.

    ``decide`` takes one argument per reading, a bool for a comparison and a list of
    bools for a list, and returns (status, condition); it must read nothing else that
    varies. A comparison whose repeats straddle its threshold (``Comparison.side`` None)
    is tried on both sides: where every combination gives the same outcome, that is the
    verdict (the straddle does not matter); otherwise the verdict is UNDECIDED, and
    ``detail`` is followed by the verdicts it lies between, the straddling comparisons
    that would change it (figures and thresholds), and what would decide it.

    Args:
        detail: the figures in words; found: ``Verdict.disagreements``.
    """
    flat = [c for r in readings for c in (r if isinstance(r, Sequence) else [r])]
    unsure = [i for i, c in enumerate(flat) if c.side is None]
    if len(unsure) > MOST_STRADDLES_TRIED:
        return Verdict(UNDECIDED, f"{detail}; " + "; ".join(flat[i].describe() for i in unsure)
                       + f": {noise.WHAT_WOULD_DECIDE}", "", found, tuple(flat))

    def outcome(guess: dict[int, bool]) -> Outcome:
        sides = iter([guess[i] if i in guess else c.side for i, c in enumerate(flat)])
        return decide(*[[next(sides) for _ in r] if isinstance(r, Sequence) else next(sides)
                        for r in readings])

    tried = {guess: outcome(dict(zip(unsure, guess, strict=True)))
             for guess in itertools.product((True, False), repeat=len(unsure))}
    outcomes = list(dict.fromkeys(tried.values()))
    if len(outcomes) == 1:
        status, condition = outcomes[0]
        return Verdict(status, detail, condition, found, tuple(flat))
    # The straddles that matter: flipping one alone changes the outcome somewhere.
    matter = [flat[i] for n, i in enumerate(unsure)
              if any(tried[g] != tried[g[:n] + (not g[n],) + g[n + 1:]] for g in tried)]
    statuses = list(dict.fromkeys(status for status, _ in outcomes))
    between = (statuses if len(statuses) > 1
               else [f"{status} {condition}".strip() for status, condition in outcomes])
    return Verdict(UNDECIDED, f"{detail}; between {', '.join(between[:-1])} and {between[-1]}: "
                   + "; ".join(c.describe() for c in matter) + f": {noise.WHAT_WOULD_DECIDE}",
                   "", found, tuple(flat))


def _holds_if(side: bool) -> Outcome:
    """The outcome of a rule with one comparison: it holds where the comparison does."""
    return (HOLDS if side else DOES_NOT_HOLD), ""


T = TypeVar("T")

#: The roles a claim's rule reads: ``{purpose: role}``, the purpose the rule's own word
#: for it (``threaded``, ``single``), the role a key of ``wsgilab.model.roles.ROLES``.
Roles = Mapping[str, str]


@dataclass(frozen=True)
class Claim:
    """One claim of the seeds (``claims.yaml``).

    Attributes:
        roles: the roles its rule reads, ``{purpose: role}`` (``Roles``).
        close: the levels whose figures sit near its rule's line, each ``(role,
            workload)``: one run's figure would decide it by chance, so the default plan
            runs them repeatedly (``close_levels``).
    """

    id: int
    claim: str
    seeds: tuple[str, ...]
    measurement: str
    rule: str
    roles: Roles = field(hash=False)
    close: tuple[tuple[str, str], ...] = ()

    def verdict(self, record: BenchRecord) -> Verdict:
        """This claim's verdict on ``record``: its rule, given the claim's roles.

        Raises:
            KeyError: the rule named in claims.yaml does not exist, or reads a purpose the
                claim's ``roles`` do not declare.
        """
        return RULES[self.rule](record, self.roles)


def close_levels(path: Path = CLAIMS_FILE) -> dict[tuple[str, str], list[int]]:
    """The levels some claim's verdict is close on: ``{(role, workload): [claim ids]}``
    (``Claim.close``), what the default plan repeats."""
    found: dict[tuple[str, str], list[int]] = {}
    for claim in load(path):
        for level in claim.close:
            found.setdefault(level, []).append(claim.id)
    return found


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
        close = tuple((str(x["role"]), str(x["workload"])) for x in c.get("close") or ())
        strays = sorted(role for role, _ in close if role not in roles.values())
        if strays:
            raise ValueError(f"claim {c['id']} in {path.name} marks close a level of "
                             f"{', '.join(strays)}, a role its rule does not read")
        claims.append(Claim(c["id"], c["claim"], tuple(c["seeds"]), c["measurement"], c["rule"],
                            dict(roles), close))
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


def _peaks(case: Case) -> Figure:
    """The case's peak in flight over its repeats."""
    return case.figure("server_peak", f"{case.level.configuration}'s peak at {case.level.vus} VUs",
                       "{:.0f}")


def _count(value: float, words: str) -> Figure:
    """A count (workers, processes, a cap) as a threshold."""
    return threshold(value, words, "{:.0f}")


def _read_from(*runs: str) -> str:
    """``" (read from records/capacity, started 2026-12-02 08:01)"``: the other recorded
    runs (``Case.run``, ``BenchRecord.runs``) a sentence's figures came from, or ""."""
    found = list(dict.fromkeys(r for r in runs if r))
    return f" (read from {' and '.join(found)})" if found else ""


def _runs_said(parts: Sequence[tuple[str, str]]) -> tuple[list[str], str]:
    """Sentences of (words, the run their figures came from): where every part came from
    the same run, (the words, that run said once at the end), else (each part with its own
    run said, "")."""
    runs = {run for _, run in parts}
    if len(runs) == 1:
        return [words for words, _ in parts], _read_from(*runs)
    return [words + _read_from(run) for words, run in parts], ""


def _workers(case: Case, word: str = "worker") -> str:
    """``"4 sync workers"``-style words from the case's own settings."""
    count = settings(case).get("workers", 1)
    return f"{count} {word}{'s' if count != 1 else ''}"


@dataclass(frozen=True)
class Capacity:
    """A configuration's capacity under the objective, over its repeated searches.

    Attributes:
        rates: each search's capacity (req/s), in the order searched.
        search: the first search (its configuration, objective, service time).
        run: the other recorded run the searches were read from (``BenchRecord.runs``),
            or "" for the record's own.
    """

    rates: tuple[float, ...]
    search: Search
    run: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.rates)

    @property
    def inflight(self) -> float:
        """In flight at the capacity: Little's law, the rate times the service time."""
        return self.median * self.search.service_ms / 1000.0

    def figure(self, words: str) -> Figure:
        """The capacity (req/s) of every search."""
        return Figure(words, self.rates, "{:.1f}")

    def inflight_figure(self, words: str) -> Figure:
        """In flight at the capacity, for every search."""
        return Figure(words, tuple(r * self.search.service_ms / 1000.0 for r in self.rates), "{:.0f}")


def capacity_of(record: BenchRecord, role: str, workload: str = "io") -> Capacity | None:
    """The ``Capacity`` of the first configuration that played ``role`` with a search that
    found one, or None."""
    return first_played(record, role, lambda c: _capacity(record, c, workload))


def _capacity(record: BenchRecord, configuration: str, workload: str) -> Capacity | None:
    found = [Search.from_dict(c) for c in record.capacities if "error" not in c
             and c["configuration"] == configuration and c["workload"] == workload]
    rates = tuple(s.capacity_rps for s in found if s.capacity_rps is not None)
    if not rates:
        return None
    return Capacity(rates, found[0], record.runs.get("capacities", ""))


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

    def decide(default_alone: bool, single_alone: bool) -> Outcome:
        if default_alone:
            return HOLDS, ""
        if single_alone:
            return HOLDS_ONLY_WHEN, "app.run(threaded=False)"
        return DOES_NOT_HOLD, ""

    one = _count(1, "one at a time")
    return judge(detail, decide, compare(_peaks(default), "==", one),
                 compare(_peaks(single), "==", one), found=_disagreements(default, single))


def threaded_dev_server(record: BenchRecord, roles: Roles) -> Verdict:
    case = played(record, roles["threaded"])
    if not case:
        return Verdict(NOT_MEASURED, f"needs io levels of {named(record, roles['threaded'])}")
    vus = case.level.vus
    detail = (f"{_peak(case)} of {vus} VUs in flight at once, {case.span('throughput_rps')} "
              f"req/s: a thread per connection")
    every_vu = threshold(EVERY_VU * vus, f"EVERY_VU x {vus} VUs", "{:.1f}")
    return judge(detail, _holds_if, compare(_peaks(case), ">=", every_vu),
                 found=_disagreements(case))


def forking_dev_server(record: BenchRecord, roles: Roles) -> Verdict:
    case = played(record, roles["forking"])
    processes = settings(case).get("processes") if case else None
    if not case or not processes or case.level.vus <= processes:
        return Verdict(NOT_MEASURED, f"needs an io level of {named(record, roles['forking'])} "
                                     "above its processes")
    detail = (f"peak {_peak(case)} at {case.level.vus} VUs; it sustained "
              f"{case.span('little_inflight', '{:.2f}')} of {processes} (a fork per request)")
    return judge(detail, _holds_if, compare(_peaks(case), "==", _count(processes, "its processes")),
                 found=_disagreements(case))


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
    detail = "; ".join(f"{w} worker{'s' if w > 1 else ''}: {p} at once" for w, p in pairs)
    each = [compare(_peaks(c), "==", _count(settings(c)["workers"], "its workers")) for c in found]
    return judge(detail, lambda sides: _holds_if(all(sides)), each, found=_disagreements(*found))


def sync_workers_start_threads(record: BenchRecord, roles: Roles) -> Verdict:
    case = played(record, roles["sync"])
    if not case or case.level.vus <= settings(case)["workers"]:
        return Verdict(NOT_MEASURED, f"needs an io level of {named(record, roles['sync'])} "
                                     "above its workers")
    workers = settings(case)["workers"]
    detail = (f"{_workers(case, 'sync worker')} held {_peak(case)} at {case.level.vus} VUs, "
              f"{case.span('throughput_rps')} req/s; a sync worker runs one request at a time")
    return judge(detail, _holds_if, compare(_peaks(case), ">", _count(workers, "its workers")),
                 found=_disagreements(case))


def two_by_four(record: BenchRecord, roles: Roles) -> Verdict:
    case = played(record, roles["gthread"])
    if not case:
        return Verdict(NOT_MEASURED, f"needs io levels of {named(record, roles['gthread'])}")
    limit = cap(case)
    parts = [(f"{case.first.configuration.capacity.formula}: peak {_peak(case)} at "
              f"{case.level.vus} VUs, sustained {case.span('little_inflight', '{:.2f}')} of "
              f"{limit}", case.run)]
    bounded = played(record, roles["bounded"])
    if bounded:
        parts.append((f"with --worker-connections {settings(bounded)['worker_connections']}: "
                      f"{bounded.span('little_inflight', '{:.2f}')}", bounded.run))
    uwsgi = played(record, roles["uwsgi"])
    if uwsgi:
        parts.append((f"uWSGI's {settings(uwsgi)['processes']} x {settings(uwsgi)['threads']}: "
                      f"{uwsgi.span('little_inflight', '{:.2f}')}", uwsgi.run))
    said, tail = _runs_said(parts)
    detail = said[0] + (f" ({'; '.join(said[1:])})" if said[1:] else "") + tail
    if limit is None:  # no cap to reach: nothing to count at the peak
        return Verdict(DOES_NOT_HOLD, detail, disagreements=_disagreements(case))

    def decide(at_cap: bool, sustains: bool) -> Outcome:
        if not at_cap:
            return DOES_NOT_HOLD, ""
        if sustains:
            return HOLDS, ""
        return (HOLDS_ONLY_WHEN, "counted at the peak: gunicorn's workers take connections they "
                "have no free thread for (benoitc/gunicorn#3433), unless --worker-connections = "
                "threads")

    sustained = case.figure("little_inflight", f"{case.level.configuration}'s Little's L at "
                            f"{case.level.vus} VUs")
    return judge(detail, decide, compare(_peaks(case), "==", _count(limit, "its cap")),
                 compare(sustained, ">=", threshold(EVERY_VU * limit, f"EVERY_VU x {limit}")),
                 found=_disagreements(case))


#: The real-I/O cases whose waiting is C code a loop's monkey-patching cannot reach:
#: (workload, axis, value, backend figure).
C_WAITS = (("db", "driver", "psycopg2", "db_active_peak"),
           ("upstream", "client", "pycurl", "upstream_peak"))


def _blocked_by_c(record: BenchRecord, role: str) -> list[tuple[str, Comparison]]:
    """The C-waiting cases of ``role`` above its workers, each as (its sentence, whether
    it held fewer than EVERY_VU of its VUs in flight: the waits blocked the loop)."""
    found = []
    for workload, axis, value, figure in C_WAITS:
        for c in played_cases(record, role, workload=workload):
            if c.level.vus <= c.first.configuration.capacity.parallelism:
                continue  # no more VUs than workers: blocking and cooperative look alike
            if (c.level.param(axis) == value
                    and dict(c.level.params).get("connections", "per-request") == "per-request"):
                every_vu = threshold(EVERY_VU * c.level.vus, f"EVERY_VU x {c.level.vus} VUs", "{:.1f}")
                found.append((f"{value}: {_peak(c)} of {c.level.vus} "
                              f"({c.median(figure):.0f} at the {workload})",
                              compare(_peaks(c), "<", every_vu)))
    return found


def async_while_waiting(record: BenchRecord, roles: Roles) -> Verdict:
    io = [c for c in (played(record, roles["gevent"]), played(record, roles["eventlet"])) if c]
    if not io:
        return Verdict(NOT_MEASURED, f"needs io levels of {named(record, roles['gevent'])} or "
                                     f"{named(record, roles['eventlet'])}")
    parts = [f"{c.level.configuration}: {_peak(c)} of {c.level.vus} in flight on io" for c in io]
    held = [compare(_peaks(c), ">=", threshold(EVERY_VU * c.level.vus,
                                               f"EVERY_VU x {c.level.vus} VUs", "{:.1f}"))
            for c in io]
    waits = _blocked_by_c(record, roles["gevent"])
    blocked = [sentence for sentence, c in waits if c.side is not False]
    detail = "; ".join(parts) + ("; with C code that waits: " + "; ".join(blocked) if blocked else "")

    def decide(held: list[bool], blocked: list[bool]) -> Outcome:
        if not all(held):
            return DOES_NOT_HOLD, ""
        if any(blocked):
            return HOLDS_ONLY_WHEN, "the waiting goes through Python's patched sockets"
        return HOLDS, ""

    return judge(detail, decide, held, [c for _, c in waits], found=_disagreements(*io))


def _balance(case: Case) -> tuple[Figure, float, Figure, float] | None:
    """(busiest worker's share, fair share, requests the master served, one request's share
    of the fewest any repeat served) of a case over its repeats, or None without
    per-worker counts or with a single worker."""
    workers = settings(case).get("workers", 1)
    if not case.usage("served_top_share") or workers < 2:
        return None
    name = case.level.configuration
    share = case.figure("served_top_share", f"{name}'s busiest worker's share", "{:.0%}", usage=True)
    master = Figure(f"requests {name}'s master served",
                    tuple(case.usage_values("served_by_master")) or (0,), "{:.0f}")
    totals = [sum(counts) for counts in case.usage_values("served_by_worker") if sum(counts)]
    return share, 1 / workers, master, 1 / min(totals) if totals else 0.0


def balanced_spread(record: BenchRecord, configurations: Sequence[str]) -> float | None:
    """The most the busiest worker's share exceeded its fair share, as a fraction of it,
    over every level of ``configurations`` in ``record`` with per-worker counts (a
    configuration whose workers accept only when free: the kernel's split, and its noise);
    None where none has them. The source of BALANCED_WITHIN."""
    # served_top_share is measure.py's (None for a single worker), its workers the counts'.
    excess = [entry.usage["served_top_share"] * len(entry.usage["served_by_worker"]) - 1
              for entry in record.levels
              if entry.level.configuration in configurations and entry.usage
              and entry.usage.get("served_top_share")]
    return max(excess) if excess else None


def master_load_balances(record: BenchRecord, roles: Roles) -> Verdict:
    found = [(c, b) for c in (played(record, roles["gthread"]), played(record, roles["sync"]))
             if c and (b := _balance(c))]
    if not found:
        return Verdict(NOT_MEASURED, f"needs io levels of {named(record, roles['gthread'])} "
                                     f"or {named(record, roles['sync'])} with per-worker counts")
    master = sum(int(b[2].median) for _, b in found)
    parts, tail = _runs_said([(f"{c.first.configuration.capacity.formula} ({c.level.configuration}): "
                               f"the busiest worker's share of the requests {b[0].describe()}, "
                               f"fair share {b[1]:.0%}", c.run) for c, b in found])
    detail = (f"the master served {master} requests; the workers accept from the shared "
              f"socket: " + "; ".join(parts) + tail)
    served = [compare(b[2], ">", _count(0, "none")) for _, b in found]
    balanced = [compare(share, "<=", threshold(fair * (1 + BALANCED_WITHIN) + one,
                                               "fair share x (1 + BALANCED_WITHIN) + one "
                                               "request", "{:.1%}"))
                for _, (share, fair, _, one) in found]

    def decide(served: list[bool], balanced: list[bool]) -> Outcome:
        if any(served) and all(balanced):
            return HOLDS, ""
        if all(balanced):
            return (HOLDS_ONLY_WHEN, "'balancing' means the kernel's: each worker accepts from "
                    "the shared socket, and one that accepts only when free takes its share")
        return DOES_NOT_HOLD, ""

    return judge(detail, decide, served, balanced, found=_disagreements(*(c for c, _ in found)))


def async_dozens_or_hundreds(record: BenchRecord, roles: Roles) -> Verdict:
    one = played(record, roles["gevent"], variant=Variant(knobs=(("workers", "1"),)))
    ceiling = played_outcome(record, "ceiling", roles["gevent"])
    held = ceiling["figures"]["held"] if ceiling else 0
    parts, reach = [], []
    dozens = _count(DOZENS, "DOZENS")
    if one:
        parts.append(f"{_workers(one, 'gevent worker')} held {_peak(one)} at once "
                     f"({one.level.vus} VUs){_read_from(one.run)}")
        reach.append(compare(_peaks(one), ">=", dozens))
    if ceiling:
        parts.append(f"the ceiling scenario: {ceiling['configuration']} held {held} in flight "
                     f"(what stopped it: {ceiling['figures']['stopped_by']})"
                     + _read_from(record.runs.get("scenarios", "")))
        reach.append(compare(_count(held, "the ceiling scenario's held"), ">=", dozens))
    measured = capacity_of(record, roles["gevent"])
    if measured:
        found = measured.search
        parts.append(f"{found.configuration}'s capacity under {found.objective.percentile} <= "
                     f"{found.objective.bound_ms:g} ms: {measured.median:.0f} req/s, "
                     f"{measured.inflight:.0f} in flight at once (Little's law)"
                     + _read_from(measured.run))
        reach.append(compare(measured.inflight_figure(f"in flight at {found.configuration}'s "
                                                      "capacity"), ">=", dozens))
    if not parts:
        return Verdict(NOT_MEASURED, "needs an io level of one gevent worker, the ceiling "
                                     "scenario, or a capacity search")
    return judge("; ".join(parts), lambda reach: _holds_if(any(reach)), reach,
                 found=_disagreements(one))


def cpu_bound_gil(record: BenchRecord, roles: Roles) -> Verdict:
    """Claim 10. Where the record holds a free-threaded build, the GIL side is read from
    its twin (same source and flags but the GIL, ``interpreters.twin``) in the same run,
    so that one verdict reads one run; else from the run's own interpreter, and the
    sentence says no free-threaded build was measured in it."""
    two = Variant(cpus=max(QUOTAS), cpuset=TWO_CORES)
    free = without_the_gil(record, two, roles)
    gil = two
    if free is not None:
        known = interpreters.of_record(record.pythons)
        twin = interpreters.twin(known[free[0]], known)
        if twin is not None and played(record, roles["sync"], "cpu", variant=replace(two, python=twin.name)):
            gil = replace(two, python=twin.name)
    sync = played(record, roles["sync"], "cpu", variant=gil)
    threads = [c for c in (played(record, roles["one_process"], "cpu", variant=gil),
                           played(record, roles["threaded"], "cpu", variant=gil)) if c]
    if not sync or not threads:
        return Verdict(NOT_MEASURED, "needs cpu levels of sync and threaded configurations "
                                     f"at {max(QUOTAS):g} CPUs")

    def processes(case: Case) -> int:
        return case.first.configuration.capacity.parallelism

    def cpus(case: Case) -> Figure:
        return case.figure("app_cpu_fraction", f"{case.level.configuration}'s CPUs"
                           + (f" on {case.level.variant.python}" if case.level.variant.python else ""),
                           usage=True)

    parts = [f"{_workers(sync, 'sync worker')} used {sync.usage('app_cpu_fraction'):.2f} CPUs, "
             f"{sync.span('throughput_rps')} req/s"]
    parts += [f"{c.level.configuration} ({processes(c)} process of threads) "
              f"{c.usage('app_cpu_fraction'):.2f} CPUs, {c.span('throughput_rps')} req/s"
              for c in threads]
    limited = [compare(cpus(c), "<=", threshold(processes(c) * (1 + GIL_CPU_SLACK),
                                                "its processes x (1 + GIL_CPU_SLACK)"))
               for c in threads]
    usable = min(processes(sync), max(QUOTAS))
    suits = compare(cpus(sync), ">=", threshold(usable * (1 - CPU_BOUND_TOLERANCE),
                                                "usable CPUs x (1 - CPU_BOUND_TOLERANCE)"))
    detail = (f"under a {max(QUOTAS):g}-CPU quota"
              + (f", on {gil.python}, the free-threaded build's GIL twin"
                 + (_read_from(sync.run) or "") if gil.python else "")
              + ": " + "; ".join(parts))
    escaped: list[Comparison] = []
    ft_threads: list[Case] = []
    found = _disagreements(sync, *threads)
    if free is not None:
        python, ft_sync, ft_threads = free
        detail += (f"; on free-threaded {python}"
                   + (" (the same run)" if gil.python else
                      _read_from(*(c.run for c in [ft_sync, *ft_threads] if c))
                      or " (`make bench-python`)") + ": "
                   + "; ".join(f"{c.level.configuration} {c.usage('app_cpu_fraction'):.2f} CPUs, "
                               f"{c.span('throughput_rps')} req/s" for c in [ft_sync, *ft_threads] if c))
        # more CPUs than its processes could use with a GIL
        escaped = [compare(cpus(c), ">", threshold(settings(c).get("workers", 1) * (1 + GIL_CPU_SLACK),
                                                   "its processes x (1 + GIL_CPU_SLACK)"))
                   for c in ft_threads]
    else:
        detail += ("; no free-threaded build was measured in this run, so the claim's GIL is "
                   "not tested against one (`make bench-python` measures 3.13t beside its twin)")

    def decide(limited: list[bool], suits: bool, escaped: list[bool]) -> Outcome:
        if not (all(limited) and suits):
            return DOES_NOT_HOLD, ""
        names = [c.level.configuration for c, e in zip(ft_threads, escaped, strict=True) if e]
        if not names:
            return HOLDS, ""
        return (HOLDS_ONLY_WHEN, "the interpreter has a GIL: on the free-threaded build, "
                + ", ".join(names) + f" used more CPUs than {'it has' if len(names) == 1 else 'they have'}"
                f" processes (GIL_CPU_SLACK {GIL_CPU_SLACK:.0%})")

    if any(c.side is not False for c in escaped):  # the free-threaded levels may decide it
        found = _disagreements(sync, *threads, *(free[1:2] if free else ()), *ft_threads)
    return judge(detail, decide, limited, suits, escaped, found=found)


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


def _per_request_mib(case: Case) -> Figure:
    """The app's memory over its peak in flight, for every repeat that measured both: what
    one request in flight costs."""
    values = tuple(e.usage["app_memory_bytes"] / 2**20 / e.figures["server_peak"]
                   for e in case.measured if e.usage and e.usage.get("app_memory_bytes")
                   and e.figures.get("server_peak"))
    return Figure(f"{case.level.configuration}'s MiB per request in flight", values or (0.0,), "{:.1f}")


def _mib(case: Case) -> float:
    return (case.usage("app_memory_bytes") or 0) / 2**20


def _memory(case: Case) -> Figure:
    """The app's memory (MiB) of every repeat."""
    values = tuple(v / 2**20 for v in case.usage_values("app_memory_bytes"))
    return Figure(f"{case.level.configuration}'s memory (MiB)", values or (0.0,), "{:.0f}")


def io_async_throughput_memory(record: BenchRecord, roles: Roles) -> Verdict:
    gevent, sync, threaded = (played(record, roles["gevent"]), played(record, roles["sync"]),
                              played(record, roles["threaded"]))
    if not gevent or not sync:
        return Verdict(NOT_MEASURED, f"needs io levels of {named(record, roles['gevent'])} and "
                                     f"{named(record, roles['sync'])}")
    gevent_mib, sync_mib = _per_request_mib(gevent), _per_request_mib(sync)
    detail = (f"at {gevent.level.vus} VUs, gevent ({_workers(gevent)}) "
              f"{gevent.span('throughput_rps')} req/s in {_mib(gevent):.0f} MiB against "
              f"{_workers(sync, 'sync worker')}' {sync.span('throughput_rps')} req/s in "
              f"{_mib(sync):.0f} MiB; memory per request in flight: gevent "
              f"{gevent_mib.describe()} MiB ({_mib(gevent):.0f} MiB in total for {_peak(gevent)} "
              f"in flight) against sync {sync_mib.describe()} MiB ({_mib(sync):.0f} MiB for "
              f"{_peak(sync)})")

    def rate(case: Case, name: str) -> Figure:
        return case.figure("throughput_rps", f"{name}'s throughput at {case.level.vus} VUs", "{:.1f}")

    throughput = {"gevent": rate(gevent, "gevent"), "sync": rate(sync, "sync"),
                  "threads": rate(threaded, "threads") if threaded else None}
    capacities = {"gevent": capacity_of(record, roles["gevent"]),
                  "sync": capacity_of(record, roles["sync"]),
                  "threads": capacity_of(record, roles["threaded"])}
    if capacities["gevent"] and capacities["sync"]:  # what each serves under the objective
        throughput = {name: c.figure(f"{name}'s capacity") if c else None
                      for name, c in capacities.items()}
        detail += ("; capacity under the objective" + _read_from(capacities["gevent"].run) + ": "
                   + ", ".join(f"{name} {c.figure(name).describe()} req/s"
                               for name, c in capacities.items() if c))
    readings = [compare(throughput["gevent"], ">", throughput["sync"].times(
                    1 + ASYNC_BETTER_BY, "sync's x (1 + ASYNC_BETTER_BY)")),
                compare(gevent_mib, "<", sync_mib)]
    if threaded and throughput["threads"]:
        detail += (f"; one process of threads (app.run()) {threaded.span('throughput_rps')} req/s "
                   f"in {_mib(threaded):.0f} MiB")
        readings.append([compare(throughput["threads"], ">=", throughput["gevent"].times(
                             1 - SAME_THROUGHPUT, "gevent's x (1 - SAME_THROUGHPUT)")),
                         compare(_memory(threaded), "<=", _memory(gevent))])

    def decide(better: bool, lighter: bool, threads: list[bool] = ()) -> Outcome:
        if not (better and lighter):
            return DOES_NOT_HOLD, ""
        if threads and all(threads):
            return HOLDS_ONLY_WHEN, "compared with sync workers: threads do as well"
        return HOLDS, ""

    return judge(detail, decide, *readings, found=_disagreements(gevent, sync, threaded))


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
    share = Figure(f"{most.workers} workers' throughput over the best",
                   tuple(v / best for v in most.throughputs or (most.throughput_rps,)), "{:.0%}")

    def decide(same: bool) -> Outcome:
        if same:
            return HOLDS_ONLY_WHEN, "memory is what runs out: context switching cost no measurable throughput"
        return HOLDS, ""

    return judge(detail, decide, compare(share, ">=", threshold(1 - SAME_THROUGHPUT,
                                                                "1 - SAME_THROUGHPUT", "{:.0%}")))


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
        detail += f"; past a limit{_read_from(record.runs.get('scenarios', ''))}: {oom['summary']}"
    slopes = Figure("memory per sync worker (MiB), each repeat's sweep",
                    tuple(v / 2**20 for v in swept.memory_per_worker_repeats) or (per_worker,), "{:.1f}")
    return judge(detail, _holds_if, compare(slopes, ">=", threshold(
        MEMORY_PER_WORKER_MIN_MIB, "MEMORY_PER_WORKER_MIN_MIB", "{:.1f}")))


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
    fewer = compare(blocking.figure("db_active_peak", "psycopg2's queries at once", "{:.0f}"), "<",
                    green.figure("db_active_peak", "psycogreen's", "{:.0f}").times(
                        1 - BLOCKING_FEWER_BY, "psycogreen's x (1 - BLOCKING_FEWER_BY)", "{:.1f}"))
    return judge(detail, _holds_if, fewer, found=_disagreements(blocking, green))


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
    broke = []
    if preload and plain:
        late, early = preload[0].median("db_active_peak"), plain[0].median("db_active_peak")
        broke.append(compare(
            preload[0].figure("db_active_peak", "psycopg 3's queries at once with --preload", "{:.0f}"),
            "<", plain[0].figure("db_active_peak", "without", "{:.0f}").times(
                1 - PRELOAD_FEWER_BY, "without, x (1 - PRELOAD_FEWER_BY)", "{:.1f}")))
        parts.append(f"with --preload the drivers were imported before the patch and psycopg 3 "
                     f"ran {late:.0f} queries at once against {early:.0f} without")

    def decide(broke: list[bool]) -> Outcome:
        if unpatched:
            return DOES_NOT_HOLD, ""
        if has and not any(broke):
            return HOLDS, ""
        return (HOLDS_ONLY_WHEN, "called as gevent.monkey.patch_all(), before the app and its "
                "libraries are imported (gunicorn's worker does, unless --preload imports them first)")

    return judge("; ".join(parts), decide, broke)


def two_tabs(record: BenchRecord, roles: Roles) -> Verdict:
    blog, single, gevent = (played(record, roles["threaded"]), played(record, roles["single"]),
                            played(record, roles["gevent"]))
    if not blog or not single or not gevent:
        return Verdict(NOT_MEASURED, f"needs io levels of {named(record, roles['threaded'])}, "
                                     f"{named(record, roles['single'])} and "
                                     f"{named(record, roles['gevent'])}")
    detail = (f"the blog's app.run(debug=False) held {_peak(blog)} at once; "
              f"app.run(threaded=False) held {_peak(single)}; gevent {_peak(gevent)}")
    one = _count(1, "one at a time")

    def decide(gevent_waits: bool, single_overlaps: bool, blog_overlaps: bool) -> Outcome:
        if gevent_waits or single_overlaps:
            return DOES_NOT_HOLD, ""
        if blog_overlaps:
            return HOLDS_ONLY_WHEN, "the dev server runs with threaded=False"
        return HOLDS, ""

    return judge(detail, decide, compare(_peaks(gevent), "<", _count(2, "two tabs at once")),
                 compare(_peaks(single), ">", one), compare(_peaks(blog), ">", one),
                 found=_disagreements(blog, single, gevent))


def builtin_server_production(record: BenchRecord, roles: Roles) -> Verdict:
    threaded, gevent = played(record, roles["threaded"]), played(record, roles["gevent"])
    exhaustion = played_outcome(record, "threads", roles["threaded"])
    if not (threaded and gevent) and not exhaustion:
        return Verdict(NOT_MEASURED, f"needs io levels of {named(record, roles['threaded'])} and "
                                     f"{named(record, roles['gevent'])}, or the threads scenario")
    parts, scales, uncapped = [], [], False
    if threaded and gevent:
        mine = threaded.figure("throughput_rps", f"{threaded.level.configuration}'s throughput", "{:.1f}")
        theirs = gevent.figure("throughput_rps", "gevent's", "{:.1f}")
        found_mine = capacity_of(record, roles["threaded"])
        found_theirs = capacity_of(record, roles["gevent"])
        if found_mine and found_theirs:  # under the objective, not at one closed load
            mine = found_mine.figure(f"{threaded.level.configuration}'s capacity")
            theirs = found_theirs.figure("gevent's")
            parts.append(f"capacity under the objective{_read_from(found_mine.run, found_theirs.run)}: "
                         f"{mine.describe()} req/s against gevent's {theirs.describe()}")
        scales.append(compare(mine, ">=", theirs.times(1 - SAME_THROUGHPUT,
                                                       "gevent's x (1 - SAME_THROUGHPUT)")))
        uncapped = cap(threaded) is None
        parts.append(f"for I/O: {_peak(threaded)} at once, {threaded.span('throughput_rps')} "
                     f"req/s against gevent's {gevent.span('throughput_rps')}"
                     + ("; no cap on threads (a thread per connection, up to the container's "
                        "pids limit) and no worker supervision" if uncapped else ""))
    failed = (exhaustion["figures"].get("failures") or 0) if exhaustion else 0
    if exhaustion:
        parts.append(f"past the pids limit{_read_from(record.runs.get('scenarios', ''))}: "
                     f"{exhaustion['summary']}")

    def decide(scales: list[bool]) -> Outcome:
        if scales and not all(scales):
            return HOLDS, ""
        if uncapped or failed:
            return HOLDS_ONLY_WHEN, "for reasons other than scaling: no cap on threads, no supervision"
        return DOES_NOT_HOLD, ""

    return judge("; ".join(parts), decide, scales, found=_disagreements(threaded, gevent))


RULES = {fn.__name__: fn for fn in (
    dev_server_one_at_a_time, threaded_dev_server, forking_dev_server, sync_workers,
    sync_workers_start_threads, two_by_four, async_while_waiting, master_load_balances,
    async_dozens_or_hundreds, cpu_bound_gil, io_async_throughput_memory, workers_vs_cores,
    sizing_rules, worker_memory, async_library_compatibility, monkey_patching, two_tabs,
    builtin_server_production)}
