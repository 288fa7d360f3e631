"""Verdicts on the seed texts' claims, computed from a run's records.

``claims.yaml`` lists each claim, its seeds, the measurement that decides it and the name
of its rule here. A rule reads the run's levels (``BenchRecord``), aggregated over repeats
(``cases.Case``: median, min-max, and whether the repeats agree on pass or fail), and returns a
``Verdict``: ``holds``, ``holds only when`` (with the condition it measured), ``does not
hold``, or ``not measured in this run`` when the levels it needs are not in the record. A
rule quotes the figures it decided on; nothing in a verdict is typed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from . import analyses
from .cases import Case, all_cases, cases, top
from .levels import Variant
from .record import BenchRecord

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


@dataclass(frozen=True)
class Claim:
    """One claim of the seeds (``claims.yaml``)."""

    id: int
    claim: str
    seeds: tuple[str, ...]
    measurement: str
    rule: str

    def verdict(self, record: BenchRecord) -> Verdict:
        """This claim's verdict on ``record``.

        Raises:
            KeyError: the rule named in claims.yaml does not exist.
        """
        return RULES[self.rule](record)


def load(path: Path = CLAIMS_FILE) -> list[Claim]:
    """The claims, in order.

    Raises:
        KeyError: a claim names a rule that does not exist.
    """
    claims = [Claim(c["id"], c["claim"], tuple(c["seeds"]), c["measurement"], c["rule"])
              for c in yaml.safe_load(path.read_text())]
    for claim in claims:
        if claim.rule not in RULES:
            raise KeyError(f"claim {claim.id} names rule {claim.rule!r}, which does not exist")
    return claims


def verdicts(record: BenchRecord) -> list[tuple[Claim, Verdict]]:
    """Every claim with its verdict on ``record``."""
    return [(claim, claim.verdict(record)) for claim in load()]


def _disagreements(*found: Case | None) -> tuple[str, ...]:
    return tuple(c.level.describe() for c in found if c is not None and c.disagree)


def _peak(case: Case) -> int:
    return int(case.median("server_peak"))


# --- the rules ---------------------------------------------------------------------

def dev_server_one_at_a_time(record: BenchRecord) -> Verdict:
    threaded, single = top(record, "flask-threaded"), top(record, "flask-dev")
    if not threaded or not single:
        return Verdict(NOT_MEASURED, "needs io levels of flask-threaded and flask-dev")
    detail = (f"app.run() held {_peak(threaded)} of {threaded.level.vus} VUs at once "
              f"(threaded by default since Flask 1.0); app.run(threaded=False) held "
              f"{_peak(single)} of {single.level.vus}")
    if _peak(threaded) > 1 and _peak(single) == 1:
        return Verdict(HOLDS_ONLY_WHEN, detail, "app.run(threaded=False)",
                       _disagreements(threaded, single))
    if _peak(threaded) == 1:
        return Verdict(HOLDS, detail)
    return Verdict(DOES_NOT_HOLD, detail)


def threaded_dev_server(record: BenchRecord) -> Verdict:
    case = top(record, "flask-threaded")
    if not case:
        return Verdict(NOT_MEASURED, "needs io levels of flask-threaded")
    vus = case.level.vus
    detail = (f"{_peak(case)} of {vus} VUs in flight at once, {case.span('throughput_rps')} "
              f"req/s: a thread per connection")
    status = HOLDS if _peak(case) >= EVERY_VU * vus else DOES_NOT_HOLD
    return Verdict(status, detail, disagreements=_disagreements(case))


def forking_dev_server(record: BenchRecord) -> Verdict:
    case = top(record, "flask-processes")
    if not case or case.level.vus <= 3:
        return Verdict(NOT_MEASURED, "needs an io level of flask-processes above 3 VUs")
    detail = (f"peak {_peak(case)} at {case.level.vus} VUs; it sustained "
              f"{case.span('little_inflight', '{:.2f}')} of 3 (a fork per request)")
    return Verdict(HOLDS if _peak(case) == 3 else DOES_NOT_HOLD, detail,
                   disagreements=_disagreements(case))


def sync_workers(record: BenchRecord) -> Verdict:
    found = [c for c in all_cases(record, configuration="gunicorn-sync", measured_only=True)
             if c.first.configuration.settings.get("worker_class") == "sync"
             and c.level.vus > c.first.configuration.settings["workers"]]
    if not found:
        return Verdict(NOT_MEASURED, "needs gunicorn-sync levels with more VUs than workers")
    pairs = sorted({(c.first.configuration.settings["workers"], _peak(c)) for c in found})
    wrong = [(w, p) for w, p in pairs if w != p]
    detail = "; ".join(f"{w} worker{'s' if w > 1 else ''}: {p} at once" for w, p in pairs)
    return Verdict(DOES_NOT_HOLD if wrong else HOLDS, detail,
                   disagreements=_disagreements(*found))


def sync_workers_start_threads(record: BenchRecord) -> Verdict:
    case = top(record, "gunicorn-sync")
    if not case or case.level.vus <= 4:
        return Verdict(NOT_MEASURED, "needs an io level of gunicorn-sync above 4 VUs")
    workers = case.first.configuration.settings["workers"]
    detail = (f"{workers} sync workers held {_peak(case)} at {case.level.vus} VUs, "
              f"{case.span('throughput_rps')} req/s; a sync worker runs one request at a time")
    return Verdict(HOLDS if _peak(case) > workers else DOES_NOT_HOLD, detail,
                   disagreements=_disagreements(case))


def two_by_four(record: BenchRecord) -> Verdict:
    case = top(record, "gunicorn-gthread")
    if not case:
        return Verdict(NOT_MEASURED, "needs io levels of gunicorn-gthread")
    cap = case.first.configuration.capacity.limit
    sustained = case.median("little_inflight")
    others = []
    for name, label in (("gunicorn-gthread-wc", "with --worker-connections 4"),
                        ("uwsgi-threads", "uWSGI's 2 x 4")):
        other = top(record, name)
        if other:
            others.append(f"{label}: {other.span('little_inflight', '{:.2f}')}")
    detail = (f"peak {_peak(case)} at {case.level.vus} VUs, sustained "
              f"{case.span('little_inflight', '{:.2f}')} of {cap}"
              + (f" ({'; '.join(others)})" if others else ""))
    if _peak(case) != cap:
        return Verdict(DOES_NOT_HOLD, detail)
    if sustained >= EVERY_VU * cap:
        return Verdict(HOLDS, detail, disagreements=_disagreements(case))
    return Verdict(HOLDS_ONLY_WHEN, detail,
                   "counted at the peak: gunicorn's workers take connections they have no "
                   "free thread for (benoitc/gunicorn#3433), unless --worker-connections = "
                   "threads", _disagreements(case))


def async_while_waiting(record: BenchRecord) -> Verdict:
    io = [c for c in (top(record, "gunicorn-gevent"), top(record, "gunicorn-eventlet")) if c]
    if not io:
        return Verdict(NOT_MEASURED, "needs io levels of gunicorn-gevent or gunicorn-eventlet")
    parts = [f"{c.level.configuration}: {_peak(c)} of {c.level.vus} in flight on io"
             for c in io]
    held = all(_peak(c) >= EVERY_VU * c.level.vus for c in io)
    blocked = []
    for workload, axis, values in (("db", "driver", ("psycopg2",)), ("upstream", "client", ("pycurl",))):
        for c in cases(record, configuration="gunicorn-gevent", workload=workload):
            if c.level.vus <= c.first.configuration.capacity.parallelism:
                continue  # no more VUs than workers: blocking and cooperative look alike
            if c.level.param(axis) in values and c.level.param(
                    "connections" if workload == "db" else axis) in ("per-request", *values):
                blocked.append(f"{c.level.param(axis)}: {_peak(c)} of {c.level.vus} "
                               f"({c.median(_backend_figure(workload)):.0f} at the {workload})")
    if not held:
        return Verdict(DOES_NOT_HOLD, "; ".join(parts))
    if blocked:
        return Verdict(HOLDS_ONLY_WHEN, "; ".join(parts) + "; with C code that waits: "
                       + "; ".join(blocked),
                       "the waiting goes through Python's patched sockets",
                       _disagreements(*io))
    return Verdict(HOLDS, "; ".join(parts), disagreements=_disagreements(*io))


def _backend_figure(workload: str) -> str:
    return {"db": "db_active_peak", "upstream": "upstream_peak"}[workload]


def master_load_balances(record: BenchRecord) -> Verdict:
    gthread = top(record, "gunicorn-gthread")
    if not gthread or not gthread.load("served_top_share"):
        return Verdict(NOT_MEASURED, "needs an io level of gunicorn-gthread with per-worker counts")
    share = gthread.load("served_top_share")
    sync = top(record, "gunicorn-sync")
    detail = (f"the master never sees a request: workers accept from the shared socket. "
              f"gthread 2 x 4's busiest worker served {share:.0%} of the requests and the pair "
              f"sustained {gthread.span('little_inflight', '{:.2f}')} of 8")
    if sync and sync.load("served_top_share"):
        detail += (f"; 4 sync workers, which accept only when free: busiest "
                   f"{sync.load('served_top_share'):.0%}")
    return Verdict(DOES_NOT_HOLD, detail, disagreements=_disagreements(gthread))


def scenario_outcome(record: BenchRecord, scenario: str, configuration: str) -> dict | None:
    """The outcome of fault ``scenario`` for ``configuration`` (its name, or the name with
    a variant in brackets) in ``record.scenarios``, as recorded by ``faults.run``
    (``{"configuration", "figures", "summary", "passed", ...}``); None when not run."""
    entry = (record.scenarios or {}).get(scenario) or {}
    return next((o for o in entry.get("outcomes", [])
                 if o["configuration"].split(" (")[0] == configuration), None)


def async_dozens_or_hundreds(record: BenchRecord) -> Verdict:
    one = top(record, "gunicorn-gevent", variant=Variant(knobs=(("workers", "1"),)))
    gevent_ceiling = scenario_outcome(record, "ceiling", "gunicorn-gevent")
    held = gevent_ceiling["figures"]["held"] if gevent_ceiling else 0
    parts = []
    if one:
        parts.append(f"one gevent worker held {_peak(one)} at once ({one.level.vus} VUs)")
    if gevent_ceiling:
        parts.append(f"the ceiling scenario: 4 workers held {held} in flight "
                     f"(what stopped it: {gevent_ceiling['figures']['stopped_by']})")
    if not parts:
        return Verdict(NOT_MEASURED, "needs an io level of one gevent worker, or the ceiling scenario")
    most = max(([_peak(one)] if one else []) + ([held] if gevent_ceiling else []))
    return Verdict(HOLDS if most >= 24 else DOES_NOT_HOLD, "; ".join(parts),
                   disagreements=_disagreements(one))


def cpu_bound_gil(record: BenchRecord) -> Verdict:
    two = Variant(cpus=2.0, cpuset="0-1")
    sync = top(record, "gunicorn-sync", "cpu", variant=two)
    threads = [c for c in (top(record, "gunicorn-gthread-1x8", "cpu", variant=two),
                           top(record, "flask-threaded", "cpu", variant=two)) if c]
    if not sync or not threads:
        return Verdict(NOT_MEASURED, "needs cpu levels of sync and threaded configurations at 2 CPUs")
    parts = [f"4 sync workers used {sync.load('app_cpu_fraction'):.2f} CPUs, "
             f"{sync.span('throughput_rps')} req/s"]
    parts += [f"{c.level.configuration} (one process of threads) {c.load('app_cpu_fraction'):.2f} "
              f"CPUs, {c.span('throughput_rps')} req/s" for c in threads]
    gil = all(c.load("app_cpu_fraction") <= 1.1 for c in threads) and sync.load("app_cpu_fraction") > 1.5
    return Verdict(HOLDS if gil else DOES_NOT_HOLD, "under a 2-CPU quota: " + "; ".join(parts),
                   disagreements=_disagreements(sync, *threads))


def io_async_throughput_memory(record: BenchRecord) -> Verdict:
    gevent, sync, threaded = (top(record, "gunicorn-gevent"), top(record, "gunicorn-sync"),
                              top(record, "flask-threaded"))
    if not gevent or not sync:
        return Verdict(NOT_MEASURED, "needs io levels of gunicorn-gevent and gunicorn-sync")

    def mib(case: Case) -> float:
        return (case.load("app_memory_bytes") or 0) / 2**20

    detail = (f"at {gevent.level.vus} VUs, gevent (4 workers) {gevent.span('throughput_rps')} "
              f"req/s in {mib(gevent):.0f} MiB against 4 sync workers' "
              f"{sync.span('throughput_rps')} req/s in {mib(sync):.0f} MiB")
    better = (gevent.median("throughput_rps") > sync.median("throughput_rps")
              and mib(gevent) / _peak(gevent) < mib(sync) / _peak(sync))
    if not better:
        return Verdict(DOES_NOT_HOLD, detail)
    if threaded and threaded.median("throughput_rps") >= (1 - SAME_THROUGHPUT) * gevent.median(
            "throughput_rps") and mib(threaded) <= mib(gevent):
        return Verdict(HOLDS_ONLY_WHEN, detail + f"; one process of threads (app.run()) "
                       f"{threaded.span('throughput_rps')} req/s in {mib(threaded):.0f} MiB",
                       "compared with sync workers: threads do as well",
                       _disagreements(gevent, sync, threaded))
    return Verdict(HOLDS, detail, disagreements=_disagreements(gevent, sync))


def workers_vs_cores(record: BenchRecord) -> Verdict:
    swept = analyses.sweep(record)
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


def sizing_rules(record: BenchRecord) -> Verdict:
    results = analyses.sizing_rules(record)
    if not results:
        return Verdict(NOT_MEASURED, "needs the cpu workload's sizing levels")
    facts = results[0].container
    rule = next(r for r in results if r.rule.name == "gunicorn")
    others = "; ".join(f"{r.rule.name}: {r.here.describe()}, cpu {r.cpu_rps:.1f}, io {r.io_rps:.1f} req/s"
                       for r in results if r.rule.name != "gunicorn" and r.cpu_rps and r.io_rps)
    memory = (f", about {rule.projected_memory_bytes / 2**20:,.0f} MiB"
              if rule.projected_memory_bytes else "")
    detail = (f"inside a {facts.get('cfs_quota_cpus')}-CPU container os.cpu_count() is the "
              f"host's {facts.get('os_cpu_count')}: 2 x cores + 1 gave {rule.here.describe()}, "
              f"cpu {rule.cpu_rps:.1f} req/s, io {rule.io_rps:.1f} req/s, and would give "
              f"{rule.projected.describe()} on a 64-core host{memory}. {others}")
    # The rule holds where its count matches what the container can use: 2 x its CPUs + 1.
    usable = facts.get("cfs_quota_cpus") or facts.get("affinity_cpus") or 1
    if rule.here.workers > 2 * usable + 1 or rule.projected.workers > 2 * usable + 1:
        return Verdict(DOES_NOT_HOLD, detail)
    return Verdict(HOLDS, detail)


def worker_memory(record: BenchRecord) -> Verdict:
    swept = analyses.sweep(record)
    if not swept:
        return Verdict(NOT_MEASURED, "needs the cpu sweep of sync workers")
    declared = next((e.configuration.limits.memory_bytes for e in record.levels
                     if e.configuration and e.level.configuration == "gunicorn-sync"
                     and not e.level.variant), None)
    most = swept.points[-1]
    detail = (f"{swept.memory_per_worker_bytes / 2**20:.1f} MiB per sync worker; "
              f"{most.workers} workers held {most.memory_bytes / 2**20:.0f} MiB")
    if declared:
        fits = int((declared - swept.base_memory_bytes) // swept.memory_per_worker_bytes)
        detail += f"; the declared {declared // 2**20} MiB fits about {fits}"
    oom = scenario_outcome(record, "memory", "gunicorn-sync")
    if oom:
        detail += f"; past a limit: {oom['summary']}"
    return Verdict(HOLDS, detail)


def async_library_compatibility(record: BenchRecord) -> Verdict:
    def db_case(driver: str) -> Case | None:
        # Only a load above the workers can tell a blocking driver from a cooperative one.
        found = [c for c in cases(record, configuration="gunicorn-gevent", workload="db")
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
    pycurl = [c for c in cases(record, configuration="gunicorn-gevent", workload="upstream")
              if c.level.param("client") == "pycurl"]
    if pycurl:
        detail += f"; pycurl {pycurl[0].median('upstream_peak'):.0f} calls at once"
    holds = blocking.median("db_active_peak") < green.median("db_active_peak")
    return Verdict(HOLDS if holds else DOES_NOT_HOLD, detail,
                   disagreements=_disagreements(blocking, green))


def monkey_patching(record: BenchRecord) -> Verdict:
    has = record.environment.get("gevent_has_monkey_patch")
    patched = sorted({e.level.configuration for e in record.levels if e.configuration
                      and e.configuration.runtime.get("patched_by") == "gevent"})
    preload = [c for c in cases(record, configuration="gunicorn-gevent-preload", workload="db")
               if c.level.param("driver") == "psycopg"]
    plain = [c for c in cases(record, configuration="gunicorn-gevent", workload="db")
             if c.level.param("driver") == "psycopg" and c.level.param("connections") == "per-request"
             and c.level.vus == (preload[0].level.vus if preload else 0)]
    if has is None and not patched:
        return Verdict(NOT_MEASURED, "needs gevent configurations")
    parts = []
    if has is False:
        parts.append("gevent has no monkey_patch(); its entry point is gevent.monkey.patch_all()")
    if patched:
        parts.append(f"gunicorn's gevent worker (and uWSGI's --gevent-early-monkey-patch) patched "
                     f"every worker: {', '.join(patched)} report patched_by=gevent")
    if preload and plain:
        parts.append(f"with --preload the drivers were imported before the patch and psycopg 3 "
                     f"ran {preload[0].median('db_active_peak'):.0f} queries at once against "
                     f"{plain[0].median('db_active_peak'):.0f} without")
    return Verdict(HOLDS_ONLY_WHEN, "; ".join(parts),
                   "called as gevent.monkey.patch_all(), before the app and its libraries "
                   "are imported (gunicorn's worker does, unless --preload imports them first)")


def two_tabs(record: BenchRecord) -> Verdict:
    blog, single, gevent = (top(record, "flask-threaded"), top(record, "flask-dev"),
                            top(record, "gunicorn-gevent"))
    if not blog or not single or not gevent:
        return Verdict(NOT_MEASURED, "needs io levels of flask-threaded, flask-dev and gunicorn-gevent")
    detail = (f"the blog's app.run(debug=False) is threaded: it held {_peak(blog)} at once; "
              f"app.run(threaded=False) held {_peak(single)}; gevent {_peak(gevent)}")
    if _peak(blog) > 1:
        return Verdict(HOLDS_ONLY_WHEN, detail, "the dev server runs with threaded=False",
                       _disagreements(blog, single, gevent))
    return Verdict(HOLDS, detail)


def builtin_server_production(record: BenchRecord) -> Verdict:
    threaded, gevent = top(record, "flask-threaded"), top(record, "gunicorn-gevent")
    exhaustion = scenario_outcome(record, "threads", "flask-threaded")
    if not (threaded and gevent) and not exhaustion:
        return Verdict(NOT_MEASURED, "needs io levels of flask-threaded and gunicorn-gevent, "
                                     "or the threads scenario")
    parts = []
    if threaded and gevent:
        parts.append(f"for I/O it scales like gevent: {_peak(threaded)} at once, "
                     f"{threaded.span('throughput_rps')} req/s against gevent's "
                     f"{gevent.span('throughput_rps')}; what it lacks is a cap (a thread per "
                     f"connection, up to the container's pids limit) and worker supervision")
    if exhaustion:
        parts.append(f"past the pids limit: {exhaustion['summary']}")
    return Verdict(HOLDS_ONLY_WHEN, "; ".join(parts),
                   "for reasons other than scaling: no cap on threads, no supervision",
                   _disagreements(threaded, gevent) if threaded and gevent else ())


RULES = {name: fn for name, fn in globals().items()
         if callable(fn) and name in {
             "dev_server_one_at_a_time", "threaded_dev_server", "forking_dev_server",
             "sync_workers", "sync_workers_start_threads", "two_by_four", "async_while_waiting",
             "master_load_balances", "async_dozens_or_hundreds", "cpu_bound_gil",
             "io_async_throughput_memory", "workers_vs_cores", "sizing_rules", "worker_memory",
             "async_library_compatibility", "monkey_patching", "two_tabs",
             "builtin_server_production"}}
