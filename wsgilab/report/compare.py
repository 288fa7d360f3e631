"""Two runs side by side: per case, the change of each figure, flagged where it exceeds
the noise the runs themselves measured.

A case (configuration, workload with its parameters, variant, VUs) is matched across the
runs. Its noise band is the larger of the two runs' spreads over their repeats, (max -
min) / median; a change beyond it is flagged. A run of single repeats measured no band:
its changes are listed unflagged and the page says so (run both with ``--repeat``).
"""

from __future__ import annotations

from dataclasses import dataclass

import jinja2
from tabulate import tabulate

from wsgilab.model.record import BenchRecord
from wsgilab.verdicts.cases import Case, all_cases

#: The figures compared, with their units.
FIGURES = {"throughput_rps": "req/s", "latency_p50_ms": "ms", "latency_p95_ms": "ms",
           "little_inflight": "in flight", "server_peak": "in flight"}


@dataclass(frozen=True)
class Change:
    """One figure of one case in two runs.

    Attributes:
        case: the case's description; figure: its name.
        a, b: the medians in run A and run B.
        change: (b - a) / a; band: the noise band, or None when neither run has repeats.
        flagged: the change exceeds the band (None without a band).
    """

    case: str
    figure: str
    a: float
    b: float
    change: float
    band: float | None
    flagged: bool | None


def _band(case: Case, figure: str) -> float | None:
    values = case.values(figure)
    if len(values) < 2 or not case.median(figure):
        return None
    return (max(values) - min(values)) / abs(case.median(figure))


def compare(a: BenchRecord, b: BenchRecord) -> list[Change]:
    """Every figure of every case both runs measured, A to B."""
    in_a = {c.level: c for c in all_cases(a, measured_only=True)}
    changes = []
    for case_b in all_cases(b, measured_only=True):
        case_a = in_a.get(case_b.level)
        if case_a is None:
            continue
        for figure in FIGURES:
            va, vb = case_a.median(figure), case_b.median(figure)
            if va is None or vb is None or va == 0:
                continue
            bands = [x for x in (_band(case_a, figure), _band(case_b, figure)) if x is not None]
            band = max(bands) if bands else None
            change = (vb - va) / abs(va)
            changes.append(Change(case_b.level.describe(), figure, va, vb, change, band,
                                  None if band is None else abs(change) > band))
    return changes


def rows(changes: list[Change]) -> list[list]:
    return [[c.case, f"{c.figure} ({FIGURES[c.figure]})", f"{c.a:.2f}", f"{c.b:.2f}",
             f"{c.change:+.1%}", "-" if c.band is None else f"{c.band:.1%}",
             {True: "CHANGED", False: "", None: "no band"}[c.flagged]] for c in changes]


HEADERS = ["case", "figure", "A", "B", "change", "noise band", "flag"]

PAGE = jinja2.Template("""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>WSGI concurrency lab: {{ a }} against {{ b }}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1180px;padding:0 1em}
table{border-collapse:collapse;font-size:12px}th,td{border:1px solid #ddd;padding:3px 6px}
th{background:#f4f4f4}</style></head><body>
<h1>{{ a }} against {{ b }}</h1>
<p>{{ flagged }} of {{ total }} figures changed beyond the noise the runs measured;
{{ unbanded }} have no noise band (single repeats: run both with --repeat).</p>
{{ table|safe }}</body></html>""", autoescape=True)


def page(a: BenchRecord, b: BenchRecord, changes: list[Change]) -> str:
    """The comparison as a self-contained HTML page."""
    return PAGE.render(a=a.started, b=b.started, total=len(changes),
                       flagged=sum(bool(c.flagged) for c in changes),
                       unbanded=sum(c.flagged is None for c in changes),
                       table=tabulate(rows(changes), headers=HEADERS, tablefmt="html",
                                      disable_numparse=True))
