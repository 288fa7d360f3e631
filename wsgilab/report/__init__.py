"""A bench run's report: ``report.md``, ``report.html`` (self-contained) and the charts as
PNG files beside them, all made from ``bench.json``.

- ``tables``: the levels (medians over repeats), the sweep, the sizing rules, the claims;
- ``charts``: the pictures, readable at 15+ configurations;
- ``html``: the page a person opens from disk: claims first, then charts, levels, facts;
- ``compare``: two runs side by side, changes flagged against their own noise.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from wsgilab.model.record import BenchRecord
from wsgilab.report import advice, gallery, html
from wsgilab.report.tables import (
    capacity_table,
    claims_table,
    overhead_table,
    rows,
    scenarios_table,
    sizing_table,
    sweep_table,
    text_table,
)
from wsgilab.verdicts import analyses

__all__ = ["write", "text_table", "rows", "claims_table", "sweep_table", "sizing_table",
           "scenarios_table", "capacity_table", "overhead_table"]


def write(record: BenchRecord) -> list[str]:
    """Write ``report.md``, ``report.html`` and every chart's PNG into the record's
    directory.

    Returns:
        the names of the chart files written.
    """
    if record.advice:
        return advice.write(record)
    directory = record.directory
    charts = gallery.all_charts(record)
    try:
        for chart in charts:
            chart.figure.savefig(directory / chart.name)
        (directory / "report.html").write_text(html.render(record, charts))
    finally:
        for chart in charts:
            plt.close(chart.figure)
    opts = record.options
    what = []
    if record.capacities:
        what.append(f"capacity searches under {record.options.get('objective')}")
    if record.levels:
        what.append(f"Workloads {', '.join(opts.get('workloads', []))}; {opts.get('duration_s')} s "
                    f"per phase ({opts.get('warmup_s')} s warm-up left out)")
    if record.scenarios:
        what.append(f"fault scenarios {', '.join(record.scenarios)}"
                    + (" (light)" if opts.get("light") else ""))
    measured = "; ".join(what) or "nothing measured"
    lines = [
        f"# Bench {record.started} ({record.status})", "",
        f"{measured[:1].upper() + measured[1:]}; base image "
        f"`{record.environment.get('base_image')}`. The same as a page: `report.html`.", "",
        "## The seeds' claims", "", claims_table(record), "",
    ]
    if record.scenarios:
        lines += ["## When things go wrong", "", scenarios_table(record), ""]
    if record.capacities:
        lines += ["## Capacity under the latency objective", "", capacity_table(record), ""]
    if record.overheads:
        lines += ["## Server overhead", "", overhead_table(record), ""]
    if record.levels:
        lines += ["## Every level", "", text_table(record, "github"), ""]
    lines += [f"![{c.title}]({c.name})\n" for c in charts]
    swept = analyses.sweep(record)
    if swept:
        lines += ["## Sync workers on one CPU", "", sweep_table(swept), ""]
    rules = analyses.sizing_rules(record, swept)
    if rules:
        lines += ["## Sizing rules", "", f"Inside the sizing container: {rules[0].container}.",
                  "", sizing_table(rules), ""]
    problems = [(e.level.describe(), p) for e in record.levels for p in e.problems]
    if problems:
        lines += ["## Problems", ""] + [f"- {where}: {p}" for where, p in problems] + [""]
    (directory / "report.md").write_text("\n".join(lines))
    return [c.name for c in charts]
