"""A run's levels grouped by case: the repeats of one level, with their spread.

With ``--repeat N`` each level runs N times; everything that reports a figure (tables,
charts, claims, comparisons) reads it here as the median over the repeats, with min-max,
and a level passes only if every repeat passed (``Case.status``). A claim compares a
figure with its threshold over every repeat (``Case.figure``, decided by ``noise``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from wsgilab.model.levels import Level, Variant
from wsgilab.model.record import BenchRecord, LevelRecord
from wsgilab.verdicts.noise import Figure


@dataclass
class Case:
    """The repeats of one level (same configuration, workload, parameters, variant, VUs).

    Attributes:
        level: the level, with ``repeat`` 1.
        entries: its records, one per repeat, in order (errors included).
    """

    level: Level
    entries: list[LevelRecord] = field(default_factory=list)

    @property
    def measured(self) -> list[LevelRecord]:
        """The repeats that produced a result."""
        return [e for e in self.entries if e.result is not None]

    def values(self, figure: str) -> list[float]:
        """``figure`` of every repeat that measured it."""
        return [e.figures[figure] for e in self.measured if e.figures.get(figure) is not None]

    def median(self, figure: str) -> float | None:
        values = self.values(figure)
        return statistics.median(values) if values else None

    def range(self, figure: str) -> tuple[float, float] | None:
        values = self.values(figure)
        return (min(values), max(values)) if values else None

    def span(self, figure: str, fmt: str = "{:.1f}") -> str:
        """``"5.65"`` or, over repeats that differ, ``"5.71 (5.02-6.97)"``; ``"-"`` if none."""
        values = self.values(figure)
        if not values:
            return "-"
        median = fmt.format(statistics.median(values))
        if len(values) == 1 or min(values) == max(values):
            return median
        return f"{median} ({fmt.format(min(values))}-{fmt.format(max(values))})"

    def usage_values(self, key: str) -> list[float]:
        """An instrument figure (``LevelRecord.usage``) of every repeat that measured it."""
        return [e.usage[key] for e in self.measured if e.usage and e.usage.get(key) is not None]

    def usage(self, key: str) -> float | None:
        """The median over repeats of an instrument figure (``LevelRecord.usage``)."""
        values = self.usage_values(key)
        return statistics.median(values) if values else None

    def figure(self, name: str, words: str, fmt: str = "{:.2f}", usage: bool = False) -> Figure:
        """``name`` of every repeat as a ``noise.Figure`` called ``words``: a result
        figure (``LevelRecord.figures``), or with ``usage`` an instrument one.

        Raises:
            ValueError: no repeat measured it.
        """
        values = self.usage_values(name) if usage else self.values(name)
        return Figure(words, tuple(values), fmt)

    @property
    def run(self) -> str:
        """The other recorded run its repeats were read from (``LevelRecord.run``: set
        where records are merged, ``wsgilab.report.findings.combine``), or "" for the
        record's own."""
        return next((e.run for e in self.entries if e.run), "")

    @property
    def passed(self) -> bool:
        """Every repeat passed."""
        return bool(self.entries) and all(e.passed for e in self.entries)

    @property
    def disagree(self) -> bool:
        """Some repeats passed and some did not."""
        return len({e.passed for e in self.entries}) > 1

    @property
    def status(self) -> str:
        """``pass``, ``FAIL``, ``error``, or ``FAIL (2 of 3 repeats)`` when they disagree."""
        if self.disagree:
            failed = sum(not e.passed for e in self.entries)
            return f"FAIL ({failed} of {len(self.entries)} repeats)"
        return self.entries[0].status if self.entries else "error"

    @property
    def first(self) -> LevelRecord:
        """The first repeat with a result (its checks and facts stand for all), else the first."""
        return (self.measured or self.entries)[0]


def all_cases(record: BenchRecord, **match) -> list[Case]:
    """Every case whose ``Level`` attributes equal ``match``, in the order first run;
    ``measured_only`` leaves out cases no repeat of which produced a result."""
    measured_only = match.pop("measured_only", False)
    grouped: dict[Level, Case] = {}
    for entry in record.levels:
        if all(getattr(entry.level, k) == v for k, v in match.items()):
            case = entry.level.case()
            grouped.setdefault(case, Case(case)).entries.append(entry)
    found = list(grouped.values())
    return [c for c in found if c.measured] if measured_only else found


def cases(record: BenchRecord, **match) -> list[Case]:
    """Measured closed-model cases matching ``match``; ``variant`` defaults to the declared
    configuration (no variant). Open-model levels (a capacity search's) have no VUs to
    compare concurrency with: the claims read them through the searches instead."""
    match.setdefault("variant", Variant())
    return [c for c in all_cases(record, measured_only=True, **match) if c.level.closed]


def top(record: BenchRecord, configuration: str, workload: str = "io", **match) -> Case | None:
    """The measured closed-model case of ``configuration`` with the most VUs, or None."""
    found = cases(record, configuration=configuration, workload=workload, **match)
    return max(found, key=lambda c: c.level.vus) if found else None
