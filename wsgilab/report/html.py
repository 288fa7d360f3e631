"""The run as one self-contained HTML page: it opens from disk and loads nothing."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import jinja2
from tabulate import tabulate

from wsgilab.model.record import BenchRecord
from wsgilab.report.charts import Chart
from wsgilab.report.tables import (
    HEADERS,
    HIDDEN_CLAIMS,
    SCENARIO_HEADERS,
    capacity_table,
    overhead_table,
    rows,
    scenario_rows,
    shown_verdicts,
    sizing_table,
    sweep_table,
)
from wsgilab.verdicts import analyses

TEMPLATE = Path(__file__).with_name("report.html.j2")


def _png(chart: Chart) -> str:
    buffer = io.BytesIO()
    chart.figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode()


def facts(record: BenchRecord) -> list[tuple[str, str]]:
    """The run's facts: dates, machine, engine, images and versions, limits, options."""
    env, opts = record.environment, record.options
    versions = {}
    for entry in record.levels:
        if entry.configuration and entry.configuration.settings.get("version"):
            s = entry.configuration.settings
            versions[s["server"]] = s["version"]
    limits = sorted({(e.level.configuration, e.configuration.limits.describe())
                     for e in record.levels if e.configuration})
    return [
        ("started, finished", f"{record.started}, {record.finished} ({record.status})"),
        ("machine", f"{env.get('host_cpus')} cores, {(env.get('host_memory_bytes') or 0) / 2**30:.0f} GiB, "
                    f"kernel {env.get('kernel')}, cgroup v{env.get('cgroup_version')}"),
        ("engine", f"Docker {env.get('docker_engine')}"),
        ("base image", env.get("base_image", "")),
        ("load generator", env.get("k6", "")),
        ("servers", ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))),
        ("limits, per configuration and variant", "; ".join(f"{c}: {d}" for c, d in limits)),
        ("the run's own limits", str(opts.get("limits"))),
        ("options", ", ".join(f"{k}={v}" for k, v in sorted(opts.items()) if k != "limits")),
    ]


def render(record: BenchRecord, charts: list[Chart]) -> str:
    """The HTML page of ``record`` with ``charts`` embedded."""
    swept = analyses.sweep(record)
    rules = analyses.sizing_rules(record, swept)
    shown = shown_verdicts(record)
    sweep_md = sweep_table(swept) if swept else ""
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = environment.from_string(TEMPLATE.read_text())
    return template.render(
        record=record,
        passed=sum(e.passed for e in record.levels), total=len(record.levels),
        repeat=record.options.get("repeat", 1),
        verdicts=shown[0], hidden_claims=HIDDEN_CLAIMS.format(shown[1]) if shown[1] else "",
        charts=charts, images={c.name: _png(c) for c in charts},
        levels_table=tabulate(rows(record), headers=HEADERS, tablefmt="html", disable_numparse=True),
        sweep_table=_markdown_to_html(sweep_md.split("\n\n")[0]) if swept else "",
        sweep_note=sweep_md.split("\n\n")[1] if swept else "",
        sizing_table=_markdown_to_html(sizing_table(rules)) if rules else "",
        sizing_note=(f"Inside the sizing container: {rules[0].container}" if rules else ""),
        scenarios=scenario_rows(record), scenario_headers=SCENARIO_HEADERS,
        scenario_descriptions={n: e.get("description", "") for n, e in record.scenarios.items()},
        capacity_table=(capacity_table(record, "html") if record.capacities else ""),
        overhead_table=(overhead_table(record, "html") if record.overheads else ""),
        load_side=record.load_side,
        problems=[(e.level.describe(), p) for e in record.levels for p in e.problems],
        facts=facts(record),
    )


def _markdown_to_html(markdown: str) -> str:
    """A github-format table (from tables.py) as an HTML table."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    body = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    return tabulate(body, headers=header, tablefmt="html", disable_numparse=True)
