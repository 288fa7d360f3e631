"""The run's pictures, readable at 15+ configurations.

A workload measured at one load per configuration is drawn as a dot plot, one row per
level, expected value beside measured; one measured at several loads as small multiples,
one panel per configuration. Figures are medians over repeats, with min-max whiskers.
Every axis names its unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator  # noqa: E402

from wsgilab.model import usl
from wsgilab.model.record import BenchRecord
from wsgilab.verdicts import analyses
from wsgilab.verdicts.cases import Case, all_cases

#: Inches per row of a dot plot, and the least height of a figure.
ROW_IN = 0.24
MIN_HEIGHT_IN = 2.6
WIDTH_IN = 11.0
#: The workload parameter that holds each workload's request time, for the throughput
#: a concurrency implies (X = L / time).
REQUEST_TIME = ("io_ms", "db_ms", "upstream_ms")


@dataclass
class Chart:
    """One picture: its file name, title, caption (what is plotted, with units), figure."""

    name: str
    title: str
    caption: str
    figure: Figure


def _label(case: Case, workload: bool = False) -> str:
    level = case.level
    parts = [f"{level.configuration} {level.workload}" if workload else level.configuration]
    axes = ", ".join(str(v) for k, v in level.params if k in level.name_params)
    if axes:
        parts.append(axes)
    if level.variant:
        parts.append(level.variant.describe())
    return f"{' | '.join(parts)} @ {level.vus} VUs"


def _series_key(case: Case) -> tuple:
    level = case.level
    return (level.configuration, tuple(v for k, v in level.params if k in level.name_params),
            level.variant)


def _check(case: Case, name: str):
    return next((c for c in case.first.checks if c.name == name), None)


def theory_rps(case: Case) -> float | None:
    """The throughput the configuration's settings promise at this level, req/s: the CPU
    bound (cpu), or the expected concurrency over the request's time (io, db, upstream)."""
    figures = case.first.figures
    if figures.get("cpu_bound_rps"):
        return figures["cpu_bound_rps"]
    params = dict(case.level.params)
    seconds = next((params[p] / 1000 for p in REQUEST_TIME if p in params), None)
    check = _check(case, "backend_peak") or _check(case, "peak")
    if (not seconds or check is None or check.high is None or case.level.workload == "mixed"
            or not case.level.closed):
        return None
    return check.high / seconds


def _errors(case: Case, figure: str) -> tuple[float, float]:
    median, span = case.median(figure), case.range(figure)
    return (median - span[0], span[1] - median) if span else (0.0, 0.0)


def _dot_figure(rows: int, panels: int = 1) -> tuple[Figure, list]:
    fig, axes = plt.subplots(1, panels, figsize=(WIDTH_IN, max(MIN_HEIGHT_IN, 1.3 + ROW_IN * rows)),
                             dpi=100, sharey=True, squeeze=False)
    return fig, list(axes[0])


def _rows_axis(ax, labels: list[str]) -> None:
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.grid(True, axis="x", alpha=0.3)


def _plain_log(ax, axis: str = "x", base: int = 10) -> None:
    """A log axis labelled with plain numbers (base 2 for counts: 1, 2, 4, 8 ...)."""
    getattr(ax, f"set_{axis}scale")("log", base=base)
    getattr(ax, f"{axis}axis").set_major_locator(LogLocator(base=base))
    getattr(ax, f"{axis}axis").set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    getattr(ax, f"{axis}axis").set_minor_formatter(FuncFormatter(lambda v, _: ""))


#: Inches kept under the plots for the legend.
LEGEND_IN = 0.45


def _finish(fig: Figure, axes: list, ncol: int = 4) -> None:
    """Lay the figure out with one legend in a strip under the plots, covering no data."""
    handles, labels = [], []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    bottom = LEGEND_IN / fig.get_figheight() if labels else 0
    fig.tight_layout(rect=(0, bottom, 1, 1))
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=7, frameon=False)


def _workloads(record: BenchRecord) -> list[str]:
    return list(dict.fromkeys(e.level.workload for e in record.levels if e.result))


def throughput_chart(record: BenchRecord, workload: str) -> Chart | None:
    """Throughput (req/s) against load for every configuration of ``workload``, beside what
    its settings promise."""
    found = [c for c in all_cases(record, workload=workload, measured_only=True) if c.level.closed
             and c.median("throughput_rps") is not None]
    if not found or workload == "mixed":
        return None
    series: dict[tuple, list[Case]] = {}
    for case in found:
        series.setdefault(_series_key(case), []).append(case)
    curves = {k: sorted(v, key=lambda c: c.level.vus) for k, v in series.items()}
    if any(len(v) > 1 for v in curves.values()):
        cols = 4
        rows = math.ceil(len(curves) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(WIDTH_IN, 2.3 * rows + 0.8), dpi=100,
                                 squeeze=False)
        for ax, cases_ in zip(axes.flat, curves.values(), strict=False):
            vus = [c.level.vus for c in cases_]
            ax.errorbar(vus, [c.median("throughput_rps") for c in cases_],
                        yerr=np.array([_errors(c, "throughput_rps") for c in cases_]).T,
                        marker="o", markersize=4, linewidth=1.5, capsize=2, label="measured")
            theory = [theory_rps(c) for c in cases_]
            if all(t is not None for t in theory):
                ax.plot(vus, theory, linestyle="--", color="grey", linewidth=1, label="settings promise")
            ax.set_title(_label(cases_[0]).rsplit(" @ ", 1)[0], fontsize=7)
            _plain_log(ax, "x")
            ax.set_xlabel("VUs", fontsize=7)
            ax.set_ylabel("req/s", fontsize=7)
            ax.tick_params(labelsize=7)
            ax.grid(True, alpha=0.3)
        for ax in list(axes.flat)[len(curves):]:
            ax.axis("off")
    else:
        cases_ = [v[0] for v in curves.values()]
        fig, (ax,) = _dot_figure(len(cases_))
        ys = range(len(cases_))
        ax.errorbar([c.median("throughput_rps") for c in cases_], ys,
                    xerr=np.array([_errors(c, "throughput_rps") for c in cases_]).T,
                    fmt="o", color="tab:blue", markersize=5, capsize=2, label="measured (median, min-max)")
        theory = [(y, theory_rps(c)) for y, c in zip(ys, cases_, strict=True) if theory_rps(c)]
        if theory:
            ax.scatter([t for _, t in theory], [y for y, _ in theory], marker="|", s=220,
                       color="black", label="what its settings promise")
        _rows_axis(ax, [_label(c) for c in cases_])
        ax.set_xlabel("throughput (req/s)")
    fig.suptitle(f"{workload}: throughput against load", fontsize=11)
    _finish(fig, [fig.axes[0]], 2)
    return Chart(f"throughput-{workload}.png", f"{workload}: throughput against load",
                 "Throughput in requests per second (req/s), median over repeats with min-max, "
                 "beside what each configuration's settings promise (the cap over the request's "
                 "time, or the CPU bound).", fig)


def concurrency_chart(record: BenchRecord, workload: str) -> Chart | None:
    """Requests in flight: the server-side peak and Little's law against the expected range."""
    found = [c for c in all_cases(record, workload=workload, measured_only=True) if c.level.closed
             and c.median("server_peak") is not None]
    if not found:
        return None
    fig, (ax,) = _dot_figure(len(found))
    for y, case in enumerate(found):
        check = _check(case, "peak")
        if check and check.high is not None:
            low = max(check.low if check.low is not None else 0.5, 0.5)
            if low == check.high:  # an exact expectation: a tick
                ax.plot([low], [y], marker="|", markersize=14, color="tab:green",
                        markeredgewidth=2, linestyle="none",
                        label="expected peak" if y == 0 else None)
            else:
                ax.plot([low, check.high], [y, y], color="tab:green", linewidth=6, alpha=0.35,
                        solid_capstyle="butt", label="expected peak" if y == 0 else None)
        ax.errorbar([case.median("server_peak")], [y], xerr=np.array([_errors(case, "server_peak")]).T,
                    fmt="o", color="tab:blue", markersize=5, capsize=2,
                    label="peak in flight (X-Inflight)" if y == 0 else None)
        if case.median("little_inflight") is not None:
            ax.plot([case.median("little_inflight")], [y - 0.2], marker="D", color="tab:orange",
                    markersize=4, linestyle="none",
                    label="sustained: L, the average in the app" if y == 0 else None)
        backend = case.median("db_active_peak") or case.median("upstream_peak")
        if backend is not None:
            ax.plot([backend], [y + 0.2], marker="s", color="tab:red", markersize=4, linestyle="none",
                    label="the backend's own peak" if y == 0 else None)
    _rows_axis(ax, [_label(c) for c in found])
    _plain_log(ax, "x", base=2)
    ax.set_xlabel("requests in flight (count)")
    fig.suptitle(f"{workload}: requests in flight against the cap", fontsize=11)
    _finish(fig, [ax])
    return Chart(f"concurrency-{workload}.png", f"{workload}: requests in flight against the cap",
                 "Requests in flight (a count): the server-side peak the app reported, the "
                 "sustained concurrency by Little's law, and for real I/O the backend's own "
                 "count, against the range the configuration's settings give.", fig)


def latency_chart(record: BenchRecord, workload: str) -> Chart | None:
    """Latency p50/p95/p99 (ms) of every level of ``workload``."""
    found = [c for c in all_cases(record, workload=workload, measured_only=True) if c.level.closed
             and c.median("latency_p50_ms") is not None]
    if not found:
        return None
    fig, (ax,) = _dot_figure(len(found))
    ys = range(len(found))
    for figure, marker, color in (("latency_p50_ms", "o", "tab:blue"),
                                  ("latency_p95_ms", "s", "tab:orange"),
                                  ("latency_p99_ms", "^", "tab:red")):
        ax.plot([c.median(figure) for c in found], ys, marker=marker, color=color,
                linestyle="none", markersize=4, label=figure.split("_")[1])
    _rows_axis(ax, [_label(c) for c in found])
    _plain_log(ax, "x")
    ax.set_xlabel("client latency through nginx (ms)")
    fig.suptitle(f"{workload}: latency p50, p95, p99", fontsize=11)
    _finish(fig, [ax], 3)
    return Chart(f"latency-{workload}.png", f"{workload}: latency p50, p95 and p99",
                 "Client latency in milliseconds (ms, log scale) over each level's steady window, "
                 "median over repeats.", fig)


def resources_chart(record: BenchRecord) -> Chart | None:
    """CPU and memory of each configuration's container against its limits, and the
    instrument's own CPU (k6, nginx) against the 80% budget."""
    found = [c for c in all_cases(record, measured_only=True) if c.level.closed
             and c.usage("app_cpu_fraction") is not None]
    if not found:
        return None
    fig, (cpu_ax, mem_ax, tool_ax) = _dot_figure(len(found), panels=3)
    for y, case in enumerate(found):
        limits = case.first.configuration.limits
        cpu_ax.barh(y, limits.cpus, color="lightgrey", height=0.6, label="CPU quota" if y == 0 else None)
        cpu_ax.plot(case.usage("app_cpu_fraction"), y, "o", color="tab:blue", markersize=4,
                    label="used" if y == 0 else None)
        mem_ax.barh(y, limits.memory_bytes / 2**20, color="lightgrey", height=0.6,
                    label="memory limit" if y == 0 else None)
        if case.usage("app_memory_bytes"):
            mem_ax.plot(case.usage("app_memory_bytes") / 2**20, y, "o", color="tab:purple",
                        markersize=4, label="used" if y == 0 else None)
        tool_ax.plot(case.usage("k6_cpu_fraction"), y, "o", color="tab:green", markersize=4,
                     label="k6" if y == 0 else None)
        if case.usage("nginx_cpu_fraction") is not None:
            tool_ax.plot(case.usage("nginx_cpu_fraction"), y, "s", color="tab:brown",
                         markersize=4, label="nginx" if y == 0 else None)
    tool_ax.axvline(0.8, color="tab:red", linestyle=":", linewidth=1, label="k6's 80% rule")
    tool_ax.axvline(0.4, color="tab:brown", linestyle=":", linewidth=1, label="80% of nginx's 0.5")
    _rows_axis(cpu_ax, [_label(c, workload=True) for c in found])
    for ax in (mem_ax, tool_ax):
        ax.grid(True, axis="x", alpha=0.3)
    cpu_ax.set_xlabel("app container (CPUs)")
    mem_ax.set_xlabel("app container (MiB)")
    tool_ax.set_xlabel("the instrument (CPUs)")
    fig.suptitle("Resources per level: each configuration against its limits, and the instrument",
                 fontsize=11)
    _finish(fig, [cpu_ax, mem_ax, tool_ax], 4)
    return Chart("resources.png", "CPU and memory per level, and the instrument's budget",
                 "CPU in CPUs (a fraction of one core per CPU) over each level's steady window "
                 "against the container's quota; memory in MiB against its limit; k6's and "
                 "nginx's CPU against the budgets that keep them from being the bottleneck.", fig)


def usl_chart(record: BenchRecord) -> Chart | None:
    """The worker sweep and its Universal Scalability Law fit."""
    swept = analyses.sweep(record)
    if not swept or len(swept.points) < usl.MIN_POINTS:
        return None
    n = [p.workers for p in swept.points]
    x = [p.throughput_rps for p in swept.points]
    try:
        fit = usl.fit(n, x)
    except usl.FitError:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax.plot(n, x, "o", color="tab:blue", label="measured (median)")
    grid = np.linspace(1, max(n), 200)
    peak = "none in range" if math.isinf(fit.peak_n) or fit.peak_n > 1e4 else f"{fit.peak_n:.1f}"
    ax.plot(grid, fit.throughput(grid), color="tab:orange",
            label=f"USL: lambda {fit.lam:.1f} req/s, sigma {fit.sigma:.3f}, kappa {fit.kappa:.4f}, "
                  f"N* {peak}, R2 {fit.r_squared:.2f}")
    ax.set_xlabel("sync workers on 1 CPU (count)")
    ax.set_ylabel("throughput (req/s)")
    ax.set_ylim(0, max(x) * 1.3)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("CPU-bound requests: throughput against workers, and the Universal Scalability Law")
    fig.tight_layout()
    return Chart("usl.png", "Worker sweep and its Universal Scalability Law fit",
                 "Throughput in req/s against the number of sync workers on one CPU (cpu "
                 "workload), with the USL fit X(N) = lambda N / (1 + sigma (N-1) + kappa N (N-1)).",
                 fig)


def mixed_chart(record: BenchRecord) -> Chart | None:
    """I/O requests' p95 alone and beside CPU-bound requests, per configuration."""
    found = [c for c in all_cases(record, workload="mixed", measured_only=True) if c.level.closed
             and c.median("io_p95_alone_ms") is not None]
    if not found:
        return None
    fig, (ax,) = _dot_figure(len(found))
    for y, case in enumerate(found):
        alone, beside = case.median("io_p95_alone_ms"), case.median("io_p95_beside_ms")
        ax.plot([alone, beside], [y, y], color="grey", linewidth=1)
        ax.plot(alone, y, "o", color="tab:blue", label="I/O p95 alone" if y == 0 else None)
        ax.plot(beside, y, "s", color="tab:red", label="I/O p95 beside CPU requests" if y == 0 else None)
    _rows_axis(ax, [_label(c) for c in found])
    ax.set_xlabel("p95 latency of the I/O requests (ms)")
    fig.suptitle("mixed: what CPU-bound requests do to I/O-bound ones beside them", fontsize=11)
    _finish(fig, [ax], 2)
    return Chart("mixed.png", "mixed: I/O latency alone and beside CPU-bound requests",
                 "p95 latency in ms of the I/O-bound requests, alone and once CPU-bound requests "
                 "run beside them, in the same level.", fig)


def closed_charts(record: BenchRecord) -> list[Chart]:
    """Every chart of the closed-model levels the record has data for, in reading order:
    per workload, then the mixed, USL and resources charts (the open-model ones are
    ``open_charts.all_charts``; both: ``gallery.all_charts``)."""
    charts = []
    for workload in _workloads(record):
        charts += [throughput_chart(record, workload), concurrency_chart(record, workload),
                   latency_chart(record, workload)]
    charts += [mixed_chart(record), usl_chart(record), resources_chart(record)]
    return [c for c in charts if c is not None]
