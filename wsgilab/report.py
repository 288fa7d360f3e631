"""Turn a bench record into a table (terminal and Markdown) and pictures."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from . import analyses, workloads
from .record import BenchRecord, LevelRecord

HEADERS = ["configuration", "workload", "variant", "VUs", "req/s", "p50 ms", "p95 ms",
           "L = X*W", "peak", "expected peak", "other", "status"]


def _expected(entry: LevelRecord, name: str) -> str:
    check = next((c for c in entry.checks if c.name == name), None)
    return check.expected() if check else ""


def _other(entry: LevelRecord) -> str:
    """The workload's own result fields, and its checks beyond peak/Little/failures."""
    parts = []
    for column in workloads.get(entry.level.workload).columns:
        value = entry.figures.get(column.figure)
        if value is not None:
            parts.append(f"{column.header} {column.fmt.format(value)}")
    for check in entry.checks:
        if check.name in ("peak", "little", "failures"):
            continue
        value = entry.figures.get(check.figure)
        shown = "-" if value is None else f"{value:.1f}"
        parts.append(f"{check.figure} {shown} (expected {check.expected()})")
    return "; ".join(parts)


def rows(record: BenchRecord) -> list[list]:
    """One row per level, in the order run."""
    table = []
    for entry in record.levels:
        level, f = entry.level, entry.figures
        head = [level.configuration, level.workload,
                level.variant.describe() if level.variant else "", level.vus]
        if entry.result is None:
            table.append(head + ["", "", "", "", "", _expected(entry, "peak"),
                                 "; ".join(entry.problems)[:80], entry.status])
            continue
        table.append(head + [
            f"{f['throughput_rps']:.1f}", f"{f['latency_p50_ms']:.0f}",
            f"{f['latency_p95_ms']:.0f}", f"{f['little_inflight']:.2f}", f["server_peak"],
            _expected(entry, "peak"), _other(entry), entry.status])
    return table


def text_table(record: BenchRecord, fmt: str = "simple") -> str:
    """The results table; ``fmt`` is any tabulate format (``"github"`` for Markdown)."""
    return tabulate(rows(record), headers=HEADERS, tablefmt=fmt, disable_numparse=True)


def plot_io(record: BenchRecord, path: Path) -> bool:
    """Server-side peak (left) and Little's-law concurrency (right) against VUs for every
    configuration's ``io`` levels as declared, each beside its expected peak.

    Returns:
        False when the record has no such level (nothing drawn).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    entries = [e for e in record.find(workload="io") if e.result and not e.level.variant]
    if not entries:
        return False
    services = list(dict.fromkeys(e.level.configuration for e in entries))
    fig, (ax_peak, ax_little) = plt.subplots(1, 2, figsize=(12, 5.5), dpi=110, sharey=True)
    cmap = plt.get_cmap("tab20")
    markers = "osD^vP*Xhp<>"
    for i, service in enumerate(services):
        mine = sorted((e for e in entries if e.level.configuration == service),
                      key=lambda e: e.level.vus)
        vus = [e.level.vus for e in mine]
        style = dict(color=cmap(i % 20), marker=markers[i % len(markers)], markersize=6,
                     linewidth=1.6, alpha=0.9)
        ax_peak.plot(vus, [e.figures["server_peak"] for e in mine], label=service, **style)
        ax_little.plot(vus, [e.figures["little_inflight"] for e in mine], **style)
    top = max(e.level.vus for e in entries)
    for ax in (ax_peak, ax_little):
        ax.plot([1, top], [1, top], color="grey", linestyle=":", linewidth=1,
                label="every VU in flight" if ax is ax_peak else None)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        for axis in (ax.xaxis, ax.yaxis):  # plain numbers, not powers of two
            axis.set_major_locator(LogLocator(base=2))
            axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            axis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("virtual users (closed model, no think time)")
        ax.grid(True, which="both", alpha=0.3)
    ax_peak.set_ylabel("requests in flight")
    ax_peak.set_title("server-side peak (X-Inflight max)", fontsize=10)
    ax_little.set_title("sustained: throughput x time in app (Little's law)", fontsize=10)
    ax_peak.legend(fontsize=7, ncol=2, loc="upper left")
    io_ms = entries[0].level.param("io_ms")
    fig.suptitle(f"I/O-bound load: requests in flight vs VUs, {io_ms} ms of I/O per request")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def plot_cpu(record: BenchRecord, path: Path) -> bool:
    """CPU-bound throughput of every ``cpu`` level against its bound, as horizontal bars.

    Returns:
        False when the record has no ``cpu`` level with a result.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = [e for e in record.find(workload="cpu") if e.result]
    if not entries:
        return False
    labels = [f"{e.level.configuration} ({e.level.variant.describe()})" for e in entries]
    measured = [e.figures["throughput_rps"] for e in entries]
    bounds = [e.figures["cpu_bound_rps"] for e in entries]
    fig, ax = plt.subplots(figsize=(11, 0.42 * len(entries) + 1.6), dpi=110)
    ys = range(len(entries))
    ax.barh(ys, measured, color="tab:blue", alpha=0.8, label="measured throughput")
    ax.scatter(bounds, ys, color="black", marker="|", s=300, zorder=3,
               label="bound: min(VUs, parallelism, quota, cpuset) / cpu time")
    ax.set_yticks(list(ys), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("throughput (req/s)")
    cpu_ms = entries[0].level.param("cpu_ms")
    ax.set_title(f"CPU-bound requests ({cpu_ms} ms of CPU each): throughput vs its bound",
                 fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def sweep_table(swept: analyses.Sweep) -> str:
    """Markdown: the sync-worker sweep on one CPU, one row per worker count."""
    rows_ = [[p.workers, f"{p.throughput_rps:.1f}", f"{p.latency_p95_ms:.0f}",
              f"{p.memory_bytes / 2**20:.0f}"] for p in swept.points]
    return (tabulate(rows_, headers=["sync workers", "req/s", "p95 ms", "memory MiB"],
                     tablefmt="github", disable_numparse=True)
            + f"\n\nMemory per worker (least squares): {swept.memory_per_worker_bytes / 2**20:.1f} "
              f"MiB, plus {swept.base_memory_bytes / 2**20:.1f} MiB; fewest workers within "
              f"{analyses.BEST_WITHIN:.0%} of the best throughput: {swept.best_workers}.")


def sizing_table(results: list[analyses.RuleResult]) -> str:
    """Markdown: each sizing rule here and on a large host."""
    rows_ = []
    for r in results:
        memory = ("" if r.projected_memory_bytes is None
                  else f"{r.projected_memory_bytes / 2**20:,.0f} MiB")
        rows_.append([r.rule.name, r.rule.formula, r.here.describe(),
                      "" if r.cpu_rps is None else f"{r.cpu_rps:.1f}",
                      "" if r.io_rps is None else f"{r.io_rps:.1f}",
                      r.projected.describe(), memory])
    return tabulate(rows_, headers=["rule", "formula", "here", "cpu req/s", "io req/s",
                                    f"on {analyses.PROJECTED_HOST_CPUS} cores", "its memory"],
                    tablefmt="github", disable_numparse=True)


def write(record: BenchRecord) -> None:
    """Write ``report.md`` and its pictures into the record's directory."""
    directory = record.directory
    pictures = []
    if plot_io(record, directory / "concurrency.png"):
        pictures.append(("concurrency.png", "I/O-bound: requests in flight vs VUs"))
    if plot_cpu(record, directory / "cpu.png"):
        pictures.append(("cpu.png", "CPU-bound: throughput vs its bound"))
    opts = record.options
    lines = [
        f"# Bench {record.started} ({record.status})",
        "",
        f"Workloads {', '.join(opts.get('workloads', []))}; {opts.get('duration_s')} s per "
        f"phase ({opts.get('warmup_s')} s warm-up left out); base image "
        f"`{record.environment.get('base_image')}`.",
        "",
        text_table(record, "github"),
        "",
    ]
    lines += [f"![{alt}]({name})\n" for name, alt in pictures]
    swept = analyses.sweep(record)
    if swept:
        lines += ["## Sync workers on one CPU", "", sweep_table(swept), ""]
    rules = analyses.sizing_rules(record, swept)
    if rules:
        facts = rules[0].container
        lines += ["## Sizing rules", "",
                  f"Inside the sizing container: os.cpu_count() {facts.get('os_cpu_count')}, "
                  f"cpuset {facts.get('affinity_cpus')} core(s), CFS quota "
                  f"{facts.get('cfs_quota_cpus')} CPU, memory "
                  f"{(facts.get('memory_limit_bytes') or 0) // 2**20} MiB.", "",
                  sizing_table(rules), ""]
    problems = [(e.level.describe(), p) for e in record.levels for p in e.problems]
    if problems:
        lines += ["## Problems", ""] + [f"- {where}: {p}" for where, p in problems] + [""]
    (directory / "report.md").write_text("\n".join(lines))
