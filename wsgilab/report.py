"""Turn a bench record into a table (terminal and Markdown) and a picture."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

HEADERS = ["service", "limits", "VUs", "req/s", "p50 ms", "p95 ms",
           "L = X*W", "server peak", "expected peak", "expected L", "verdict"]


def rows(record: dict) -> list[list]:
    """One row per level, limits shown once per configuration.

    ``L = X*W`` is the client-side concurrency by Little's law: throughput (req/s) times
    the mean time a request spent in the app (s).
    """
    table, seen = [], set()
    for level in record["levels"]:
        service = level["service"]
        cfg = record["configurations"].get(service, {})
        limits = ""
        if service not in seen and cfg:
            lim = cfg["limits"]
            limits = f"{lim['cpus']:g} CPU, {lim['memory_bytes'] // 2**20} MiB, {lim['pids']} pids"
        seen.add(service)
        exp = level["expected"]
        peak = little = ""
        if exp:  # None when the configuration could not even be discovered
            peak = (f"{exp['inflight']}" if exp["server_bound"]
                    else f"{exp['min_peak']}..{exp['inflight']}")
            little = f"{exp['min_little']:.1f}..{exp['max_little']:.1f}"
        res = level["result"]
        if res is None:
            table.append([service, limits, level["vus"], "", "", "", "", "", peak, little, "error"])
            continue
        table.append([
            service, limits, level["vus"], f"{res['throughput_rps']:.1f}",
            f"{res['latency_p50_ms']:.0f}", f"{res['latency_p95_ms']:.0f}",
            f"{res['little_inflight']:.2f}", res["server_peak"], peak, little, level["verdict"],
        ])
    return table


def text_table(record: dict, fmt: str = "simple") -> str:
    """The results table; ``fmt`` is any tabulate format (``"github"`` for Markdown)."""
    return tabulate(rows(record), headers=HEADERS, tablefmt=fmt, disable_numparse=True)


def plot(record: dict, path: Path) -> None:
    """Draw, per configuration against VUs, the server-side peak in flight (left) and the
    sustained concurrency by Little's law (right), each beside its expectation.

    Writes a PNG at ``path``. Lines that coincide (the unbounded servers) are drawn with
    different markers and widths so that each stays visible.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    fig, (ax_peak, ax_little) = plt.subplots(1, 2, figsize=(11, 5), dpi=110, sharey=True)
    services = list(dict.fromkeys(level["service"] for level in record["levels"]))
    markers = "osD^vP*X"
    ticks = set()
    for i, service in enumerate(services):
        levels = [lv for lv in record["levels"] if lv["service"] == service and lv["result"]]
        if not levels:
            continue
        vus = [lv["vus"] for lv in levels]
        style = dict(marker=markers[i % len(markers)], markersize=9 - i, linewidth=3 - 0.3 * i)
        line, = ax_peak.plot(vus, [lv["result"]["server_peak"] for lv in levels],
                             label=service, **style)
        ax_little.plot(vus, [lv["result"]["little_inflight"] for lv in levels],
                       color=line.get_color(), **style)
        ax_peak.plot(vus, [lv["expected"]["inflight"] for lv in levels], linestyle=":",
                     color=line.get_color())
        ticks.update(vus)
        ticks.update(lv["result"]["server_peak"] for lv in levels)
    for ax in (ax_peak, ax_little):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        # After set_*scale, which installs log locators of its own: ticks at the levels run.
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(FixedLocator(sorted(ticks)))
            axis.set_major_formatter(ScalarFormatter())
            axis.set_minor_locator(NullLocator())
        ax.set_xlabel("virtual users (closed model, no think time)")
        ax.grid(True, alpha=0.3)
    ax_peak.set_ylabel("requests in flight")
    ax_peak.set_title("server-side peak (solid) vs cap from settings (dotted)", fontsize=10)
    ax_little.set_title("sustained: throughput x time in app (Little's law)", fontsize=10)
    ax_peak.legend(fontsize=8)
    opts = record["options"]
    fig.suptitle(f"Requests in flight vs load, {opts['io_ms']} ms of I/O per request")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(record: dict, results_dir: Path) -> None:
    """Write ``report.md`` and ``concurrency.png`` into ``results_dir``."""
    plot(record, results_dir / "concurrency.png")
    opts = record["options"]
    lines = [
        f"# Bench {record['started']} ({record['status']})",
        "",
        f"{opts['duration_s']} s per level ({opts['warmup_s']} s warm-up left out), "
        f"each request waits {opts['io_ms']} ms on I/O; base image "
        f"`{record['environment'].get('base_image')}`.",
        "",
        text_table(record, "github"),
        "",
        "![server-side peak in flight vs VUs](concurrency.png)",
        "",
    ]
    problems = [(lv["service"], lv["vus"], p) for lv in record["levels"] for p in lv["problems"]]
    if problems:
        lines += ["## Problems", ""] + [f"- {s} at {v} VUs: {p}" for s, v, p in problems] + [""]
    (results_dir / "report.md").write_text("\n".join(lines))
