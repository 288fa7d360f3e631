"""Two runs side by side: per case, the change of each figure, flagged where it exceeds
the noise the runs themselves measured.

A case (configuration, workload with its parameters, variant, VUs) is matched across the
runs. Its noise band is the larger of the two runs' spreads over their repeats, (max -
min) / median; a change beyond it is flagged. A run of single repeats measured no band:
its changes are listed unflagged and the page says so (run both with ``--repeat``).

The runs' verdicts are compared too (``verdict_changes``): a claim whose verdict differs
is a real change only where both runs decided it (neither undecided) and the figures that
flipped it were measured with a spread the change lies outside of; where either run is
undecided, or a flipped figure of one run lies within the other's spread, it is noise; where
the flipped figures were measured once in both runs, no spread tells (``NO_SPREAD``).
"""

from __future__ import annotations

from dataclasses import dataclass

import jinja2
from tabulate import tabulate

from wsgilab.model.record import BenchRecord
from wsgilab.verdicts import claims
from wsgilab.verdicts.cases import Case, all_cases
from wsgilab.verdicts.noise import Comparison

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


#: How a changed verdict reads (``VerdictChange.kind``).
REAL = "a real change: outside the spread"
NOISE = "noise: within the spread"
NO_SPREAD = "no spread: measured once in both runs"
ONE_RUN = "measured in one run only"


@dataclass(frozen=True)
class VerdictChange:
    """One claim whose verdict differs between two runs.

    Attributes:
        claim: its id; a, b: its verdicts in run A and run B.
        kind: REAL, NOISE, NO_SPREAD or ONE_RUN; why: the figures that say so.
    """

    claim: int
    a: claims.Verdict
    b: claims.Verdict
    kind: str
    why: str


def _head(verdict: claims.Verdict) -> str:
    return f"{verdict.status} {verdict.condition}".strip()


def _flipped(a: claims.Verdict, b: claims.Verdict) -> list[tuple[Comparison, Comparison]]:
    """The comparisons both verdicts made (matched by the figure's words) on whose side
    the runs differ."""
    in_a = {c.figure.words: c for c in a.readings}
    return [(in_a[c.figure.words], c) for c in b.readings
            if c.figure.words in in_a and in_a[c.figure.words].side != c.side]


def _within(one: Comparison, other: Comparison) -> bool:
    """``other``'s median lies within ``one``'s spread (min-max over two repeats or more)."""
    values = one.figure.values
    return len(values) > 1 and min(values) <= other.figure.median <= max(values)


def _kind(a: claims.Verdict, b: claims.Verdict) -> tuple[str, str]:
    if claims.NOT_MEASURED in (a.status, b.status):
        return ONE_RUN, ""
    undecided = [name for name, v in (("A", a), ("B", b)) if v.status == claims.UNDECIDED]
    if undecided:
        return NOISE, f"undecided in {' and '.join(undecided)}"
    flipped = _flipped(a, b)
    if not flipped:  # decided by what the runs reported, not by a figure with a spread
        return REAL, "no measured figure changed sides: the facts the rule reads differ"
    said = "; ".join(f"A: {x.describe()}; B: {y.describe()}" for x, y in flipped)
    if any(_within(x, y) or _within(y, x) for x, y in flipped):
        return NOISE, said
    if not any(x.repeated or y.repeated for x, y in flipped):
        return NO_SPREAD, said
    return REAL, said


def verdict_changes(a: BenchRecord, b: BenchRecord) -> list[VerdictChange]:
    """Every claim whose verdict (status and condition) differs from run A to run B, with
    whether the change is outside the runs' spread (``VerdictChange.kind``)."""
    changes = []
    for (claim, va), (_, vb) in zip(claims.verdicts(a), claims.verdicts(b), strict=True):
        if _head(va) != _head(vb):
            changes.append(VerdictChange(claim.id, va, vb, *_kind(va, vb)))
    return changes


def verdict_rows(changes: list[VerdictChange]) -> list[list]:
    """The changed verdicts as table rows (VERDICT_HEADERS)."""
    return [[c.claim, _head(c.a), _head(c.b), c.kind, c.why] for c in changes]


VERDICT_HEADERS = ["claim", "A", "B", "change", "figures"]


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
{{ table|safe }}
<h2>Verdicts</h2>
<p>{{ verdicts_changed }} of the claims' verdicts differ, {{ real }} of them outside the
spread (both runs decided, by figures whose repeats do not overlap).</p>
{{ verdict_table|safe }}</body></html>""", autoescape=True)


def page(a: BenchRecord, b: BenchRecord, changes: list[Change],
         verdicts: list[VerdictChange] | None = None) -> str:
    """The comparison as a self-contained HTML page: the figures' changes, then the
    verdicts' (``verdict_changes``, computed here when not given)."""
    verdicts = verdict_changes(a, b) if verdicts is None else verdicts
    return PAGE.render(a=a.started, b=b.started, total=len(changes),
                       flagged=sum(bool(c.flagged) for c in changes),
                       unbanded=sum(c.flagged is None for c in changes),
                       table=tabulate(rows(changes), headers=HEADERS, tablefmt="html",
                                      disable_numparse=True),
                       verdicts_changed=len(verdicts), real=sum(v.kind == REAL for v in verdicts),
                       verdict_table=tabulate(verdict_rows(verdicts), headers=VERDICT_HEADERS,
                                              tablefmt="html", disable_numparse=True))
