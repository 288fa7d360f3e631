"""The open-model pictures: latency against offered rate (the hockey stick), each
configuration's capacity against its theoretical maximum, closed beside open load at the
same throughput, and each server's CPU per request.

Every figure comes from the record: the open levels (``Level.load`` open), the capacity
searches (``BenchRecord.capacities``) and the overheads (``BenchRecord.overheads``).
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
from matplotlib.ticker import FixedLocator, FuncFormatter

from wsgilab.model.capacity import CAPACITY_OVERSHOOT, CAPACITY_TOLERANCE, Search
from wsgilab.model.record import BenchRecord
from wsgilab.report.charts import WIDTH_IN, Chart, _dot_figure, _finish, _plain_log, _rows_axis
from wsgilab.verdicts.cases import Case, all_cases

PERCENTILES = (("latency_p50_ms", "p50", "tab:blue"), ("latency_p95_ms", "p95", "tab:orange"),
               ("latency_p99_ms", "p99", "tab:red"))


def _searches(record: BenchRecord) -> list[Search]:
    return [Search.from_dict(c) for c in record.capacities if "error" not in c]


def _open_series(record: BenchRecord) -> dict[tuple, list[Case]]:
    """Open cases by (configuration, workload, variant), a rate's repeats merged, ordered
    by rate; the overhead levels (no service time) left out."""
    series: dict[tuple, dict[float, Case]] = {}
    for case in all_cases(record, measured_only=True):
        level = case.level
        if level.closed or not any(v for k, v in level.params if k.endswith("_ms")):
            continue
        key = (level.configuration, level.workload, level.variant)
        series.setdefault(key, {}).setdefault(level.load.rate_rps, case)
    return {k: [v[r] for r in sorted(v)] for k, v in series.items()}


#: Latency ticks (ms) for a log axis that spans less than a decade.
LATENCY_TICKS_MS = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 300, 500, 1000, 2000, 5000, 10000, 20000)


def _latency_axis(ax, axis: str = "y") -> None:
    """A log latency axis with plain millisecond ticks inside its range."""
    getattr(ax, f"set_{axis}scale")("log")
    low, high = getattr(ax, f"get_{axis}lim")()
    ticks = [t for t in LATENCY_TICKS_MS if low <= t <= high] or [round(low), round(high)]
    which = getattr(ax, f"{axis}axis")
    which.set_major_locator(FixedLocator(ticks))
    which.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    which.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def hockey_chart(record: BenchRecord) -> Chart | None:
    """Latency p50/p95/p99 against the offered rate, one panel per configuration, with its
    theoretical maximum and the objective where a search measured them."""
    series = _open_series(record)
    if not series:
        return None
    searches = {(s.configuration, s.workload): s for s in _searches(record)}
    cols = min(4, len(series))
    rows = math.ceil(len(series) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH_IN, 2.4 * rows + 0.8), dpi=100,
                             squeeze=False)
    for ax, ((configuration, workload, variant), cases_) in zip(axes.flat, series.items(),
                                                                 strict=False):
        # At the rate asked: a level that dropped requests offered less, and is marked.
        rates = [c.level.load.rate_rps for c in cases_]
        for figure, name, colour in PERCENTILES:
            ax.plot(rates, [c.median(figure) for c in cases_], marker="o", markersize=3,
                    linewidth=1.2, color=colour, label=f"latency {name}")
        found = searches.get((configuration, workload))
        if found and found.maximum_rps:
            ax.axvline(found.maximum_rps, color="grey", linestyle="--", linewidth=1,
                       label="theoretical maximum")
        if found:
            ax.axhline(found.objective.bound_ms, color="black", linestyle=":", linewidth=1,
                       label="objective")
            if found.capacity_rps:
                ax.axvline(found.capacity_rps, color="tab:green", linewidth=1.5,
                           label="capacity (measured)")
        failed = [(r, c.median("latency_p99_ms")) for r, c in zip(rates, cases_, strict=True)
                  if not c.passed]
        if failed:
            ax.plot(*zip(*failed, strict=True), "x", color="black", markersize=6,
                    label="level missed a check")
        _latency_axis(ax)
        ax.set_title(f"{configuration} {workload}" + (f" ({variant.describe()})" if variant else ""),
                     fontsize=7)
        ax.set_xlabel("offered rate (req/s)", fontsize=7)
        ax.set_ylabel("latency (ms)", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(series):]:
        ax.axis("off")
    fig.suptitle("Open load: latency against the offered rate (the hockey stick)", fontsize=11)
    _finish(fig, list(axes.flat), 6)
    return Chart("latency-open.png", "Latency against the offered rate",
                 "Open model (requests arrive at a rate, whatever the answers): latency "
                 "p50, p95 and p99 in ms (log scale) against the arrival rate asked for, in "
                 "req/s (a cross: the level missed a check, dropped requests among them); the "
                 "dashed line is the theoretical "
                 "maximum, the dotted one the latency objective, the green one the capacity "
                 "the search measured.", fig)


def capacity_chart(record: BenchRecord) -> Chart | None:
    """Each configuration's measured capacity against its theoretical maximum (req/s)."""
    found = _searches(record)
    if not found:
        return None
    found.sort(key=lambda s: (s.capacity_rps or 0), reverse=True)
    fig, (ax,) = _dot_figure(len(found))
    for y, s in enumerate(found):
        if s.maximum_rps:
            ax.plot([s.maximum_rps * (1 - CAPACITY_TOLERANCE), s.maximum_rps * (1 + CAPACITY_OVERSHOOT)],
                    [y, y], color="lightgrey", linewidth=6, solid_capstyle="butt",
                    label="tolerance around the maximum" if y == 0 else None)
            ax.plot(s.maximum_rps, y, "|", color="black", markersize=14,
                    label="theoretical maximum" if y == 0 else None)
        if s.capacity_rps:
            marker = ">" if s.instrument_bound else "o"
            ax.plot(s.capacity_rps, y, marker, color="tab:green", markersize=6,
                    label="capacity (measured)" if y == 0 else None)
    _plain_log(ax, "x")
    _rows_axis(ax, [f"{s.configuration} {s.workload}" + (f" r{s.repeat}" if s.repeat > 1 else "")
                    for s in found])
    ax.set_xlabel("arrival rate (req/s, log scale)")
    fig.suptitle("Capacity under the latency objective, against the theoretical maximum",
                 fontsize=11)
    _finish(fig, [ax], 3)
    return Chart("capacity.png", "Capacity against the theoretical maximum",
                 "The highest arrival rate (req/s) each configuration served with its latency "
                 "percentile under the objective, no error and none dropped (dots; an arrow: "
                 "the load side's own limit, so at least that), against its theoretical "
                 "maximum (bars: the cap over the service time, or the CPUs over the CPU per "
                 "request) and the tolerance around it.", fig)


def overhead_chart(record: BenchRecord) -> Chart | None:
    """Each configuration's CPU per request on a near-zero-work request."""
    rows = sorted(record.overheads, key=lambda o: o["cpu_ms_per_request"])
    if not rows:
        return None
    fig, (ax,) = _dot_figure(len(rows))
    ax.plot([o["cpu_ms_per_request"] for o in rows], range(len(rows)), "o", color="tab:purple")
    _rows_axis(ax, [f"{o['configuration']} ({o['formula']})" for o in rows])
    _latency_axis(ax, "x")
    ax.set_xlabel("CPU per request (ms, log scale), near-zero-work request")
    fig.suptitle("Server overhead: CPU time per request", fontsize=11)
    _finish(fig, [ax])
    return Chart("overhead.png", "Server overhead per request",
                 "The app container's CPU time per request (ms) on GET /io?ms=0 at a rate "
                 "the load side sustains: what the server, the WSGI stack and the lab's own "
                 "middleware cost per request; 1000 over it is the most req/s one CPU serves.",
                 fig)


def closed_open_pairs(record: BenchRecord) -> list[tuple[Case, Case]]:
    """(closed case, open case) of one configuration and workload at about the same
    throughput: the open case whose offered rate is nearest the closed case's throughput,
    within 15%."""
    closed = [c for c in all_cases(record, measured_only=True) if c.level.closed]
    series = _open_series(record)
    pairs = []
    for case in closed:
        key = (case.level.configuration, case.level.workload, case.level.variant)
        candidates = series.get(key, [])
        if not candidates:
            continue
        x = case.median("throughput_rps")
        best = min(candidates, key=lambda c: abs((c.median("offered_rps") or 0) - x))
        if abs((best.median("offered_rps") or 0) - x) <= 0.15 * x:
            pairs.append((case, best))
    return pairs


def closed_open_chart(record: BenchRecord) -> Chart | None:
    """Latency p50 and p99 of a configuration under a closed load and under an open load at
    about the same throughput."""
    pairs = closed_open_pairs(record)
    if not pairs:
        return None
    fig, (ax,) = _dot_figure(len(pairs))
    for y, (closed, opened) in enumerate(pairs):
        ax.plot([closed.median("latency_p50_ms"), closed.median("latency_p99_ms")], [y - 0.12] * 2,
                "-o", color="tab:blue", markersize=4, label="closed: p50 to p99" if y == 0 else None)
        ax.plot([opened.median("latency_p50_ms"), opened.median("latency_p99_ms")], [y + 0.12] * 2,
                "-s", color="tab:red", markersize=4, label="open: p50 to p99" if y == 0 else None)
    _latency_axis(ax, "x")
    _rows_axis(ax, [f"{c.level.configuration} {c.level.workload}: {c.level.load.describe()} "
                    f"({c.span('throughput_rps')} req/s) / {o.level.load.describe()}"
                    for c, o in pairs])
    ax.set_xlabel("latency (ms, log scale)")
    fig.suptitle("The same throughput, closed against open load", fontsize=11)
    _finish(fig, [ax], 2)
    return Chart("closed-open.png", "Closed against open load at the same throughput",
                 "Latency p50 to p99 (ms, log scale) of one configuration under a closed "
                 "load (VUs waiting for their answers: the queue is in the clients) and under "
                 "an open load offering the throughput the closed one reached.", fig)


def all_charts(record: BenchRecord) -> list[Chart]:
    """The open-model charts the record has data for."""
    return [c for c in (hockey_chart(record), capacity_chart(record), closed_open_chart(record),
                        overhead_chart(record)) if c is not None]
