"""Figures that span several levels of a run: the worker sweep and the sizing rules.

Both read the ``cpu`` workload's levels (``workloads/cpu.py``, points 5 and 6) from a
bench record; they compute nothing the levels did not measure.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

from wsgilab.model import sizing
from wsgilab.model.record import BenchRecord, LevelRecord
from wsgilab.model.roles import players
from wsgilab.workloads.cpu import SIZING_QUOTA, SWEEP_MEMORY

#: The sweep's "best" count: the fewest workers whose throughput is within this fraction of
#: the sweep's highest: counts closer than this are taken as the same. No record measures
#: the spread it stands for, and the "17.5 to 19.2 req/s over three runs" once cited here
#: is in none: records/default's sweep spans 0.6% (19.5-19.6 req/s, one run of each
#: count), records/gthread-repeats' levels whose cap binds at most 1.6% over five repeats.
#: 0.10 is a judgement, the same as claims.SAME_THROUGHPUT.
BEST_WITHIN = 0.10
#: Host sizes the sizing rules are projected onto.
PROJECTED_HOST_CPUS = 64
#: The role whose configuration the cpu workload sweeps (``workloads/cpu.py``, point 5).
SWEEP_ROLE = "sync-workers"


@dataclass(frozen=True)
class SweepPoint:
    """One worker count of the sweep: throughput (req/s), p95 (ms), container memory
    (bytes), medians over its repeats; ``throughputs`` every repeat's throughput."""

    workers: int
    throughput_rps: float
    latency_p95_ms: float
    memory_bytes: int
    throughputs: tuple[float, ...] = ()


@dataclass(frozen=True)
class Sweep:
    """The sync-worker sweep on one CPU.

    Attributes:
        points: one per worker count, in order (medians over repeats).
        memory_per_worker_bytes: the slope of a least-squares line through (workers,
            memory); base_memory_bytes its intercept (the arbiter and the container).
        best_workers: the fewest workers within BEST_WITHIN of the highest throughput.
        memory_per_worker_repeats: the slope of each repeat's own sweep (the levels of one
            ``repeat`` index, where it has two worker counts or more), in repeat order:
            what the slope's spread is read from.
    """

    points: tuple[SweepPoint, ...]
    memory_per_worker_bytes: float
    base_memory_bytes: float
    best_workers: int
    memory_per_worker_repeats: tuple[float, ...] = ()


def _workers(entry: LevelRecord) -> int:
    return int(entry.configuration.settings["workers"])


def sweep(record: BenchRecord, role: str = SWEEP_ROLE) -> Sweep | None:
    """The sweep of the cpu levels at 1 CPU with a workers knob of the first configuration
    playing ``role`` that has one, or None when none has."""
    for configuration in players(record.roles, role):
        found = _sweep(record, configuration)
        if found:
            return found
    return None


def _sweep(record: BenchRecord, configuration: str) -> Sweep | None:
    entries = [e for e in record.find(configuration=configuration, workload="cpu")
               if e.result and e.level.variant.cpus == 1.0 and e.level.variant.memory == SWEEP_MEMORY
               and dict(e.level.variant.knobs).get("workers")]
    by_count: dict[int, list[LevelRecord]] = {}
    for entry in entries:
        by_count.setdefault(_workers(entry), []).append(entry)
    if len(by_count) < 2:
        return None
    points = tuple(SweepPoint(
        workers=count,
        throughput_rps=statistics.median(e.figures["throughput_rps"] for e in group),
        latency_p95_ms=statistics.median(e.figures["latency_p95_ms"] for e in group),
        memory_bytes=int(statistics.median(e.usage.get("app_memory_bytes", 0) for e in group)),
        throughputs=tuple(e.figures["throughput_rps"] for e in group),
    ) for count, group in sorted(by_count.items()))
    slope, intercept = np.polyfit([p.workers for p in points], [p.memory_bytes for p in points], 1)
    top = max(p.throughput_rps for p in points)
    best = min(p.workers for p in points if p.throughput_rps >= (1 - BEST_WITHIN) * top)
    by_repeat: dict[int, list[LevelRecord]] = {}
    for entry in entries:
        by_repeat.setdefault(entry.level.repeat, []).append(entry)
    slopes = tuple(float(np.polyfit([_workers(e) for e in group],
                                    [e.usage.get("app_memory_bytes", 0) for e in group], 1)[0])
                   for _, group in sorted(by_repeat.items())
                   if len({_workers(e) for e in group}) > 1)
    return Sweep(points, float(slope), float(intercept), best, slopes)


@dataclass(frozen=True)
class RuleResult:
    """A sizing rule, evaluated here and projected onto a large host.

    Attributes:
        rule: the rule.
        here: what it gives inside the run's sizing container (0.5 CPU here).
        container: what that container reported (``labinstrument.container.facts``).
        cpu_rps, io_rps: the throughput its configuration measured on ``cpu`` and ``io``.
        projected: what it gives on a PROJECTED_HOST_CPUS-core host, in a container limited
            by a CFS quota only (no cpuset, as Kubernetes and Cloud Run limit containers), so
            that both ``os.cpu_count()`` and ``nproc`` see every core.
        projected_memory_bytes: memory those worker processes need there: the sweep's
            intercept plus its measured memory per worker times the workers (threads'
            own memory not counted); None without a sweep.
    """

    rule: sizing.Rule
    here: sizing.Sizing
    container: dict
    cpu_rps: float | None
    io_rps: float | None
    projected: sizing.Sizing
    projected_memory_bytes: float | None


def sizing_rules(record: BenchRecord, swept: Sweep | None = None,
                 role: str = SWEEP_ROLE) -> list[RuleResult]:
    """Each rule of ``wsgilab.model.sizing`` with its measured configuration, or [] when the run
    has no sizing levels. The memory it projects comes from ``swept``, else from the sweep
    of ``role`` (``sweep``)."""
    entries = [e for e in record.levels if e.result and e.level.variant.cpus == SIZING_QUOTA
               and e.level.variant.cpuset is None and e.level.variant.knobs]
    if not entries:
        return []
    swept = swept or sweep(record, role)
    results = []
    for rule in sizing.RULES:
        facts = entries[0].configuration.container
        here = rule.size(facts)
        mine = [e for e in entries if _matches(e, here)]
        cpu = [e.figures["throughput_rps"] for e in mine if e.level.workload == "cpu"]
        io = [e.figures["throughput_rps"] for e in mine if e.level.workload == "io"]
        projected = rule.size({**facts, "os_cpu_count": PROJECTED_HOST_CPUS,
                               "affinity_cpus": PROJECTED_HOST_CPUS})
        memory = None
        if swept:
            memory = swept.base_memory_bytes + swept.memory_per_worker_bytes * projected.workers
        results.append(RuleResult(rule, here, facts, statistics.median(cpu) if cpu else None,
                                  statistics.median(io) if io else None, projected, memory))
    return results


def _matches(entry: LevelRecord, size: sizing.Sizing) -> bool:
    settings = entry.configuration.settings
    return (settings.get("worker_class") == size.worker_class
            and settings.get("workers") == size.workers
            and (size.threads == 1 or settings.get("threads") == size.threads))
