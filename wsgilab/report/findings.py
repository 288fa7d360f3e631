"""The findings page: ``docs/findings.md``, rendered from the recorded runs in ``records/``.

Every figure on the page comes from a record (``bench.json``) through the same code the
run's own report uses: the verdicts, the tables, the charts. The page is regenerated with
``make findings`` (``python -m wsgilab findings``); a test renders it again and fails when
the page on disk differs, so that a finding cannot be edited by hand or left behind by a
change to the code. Prose lives in the template, ``findings.md.j2``; numbers never do.

``records/README.md`` says how each record was made; a record that is missing is left out
of the page (its sections say so), never replaced by typed figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2
import matplotlib.pyplot as plt
from tabulate import tabulate

from .. import analyses, claims
from ..cases import Case, all_cases
from ..compose import ROOT
from ..record import BenchRecord
from . import charts as charts_module
from .tables import (
    HEADERS,
    capacity_table,
    overhead_table,
    rows,
    scenarios_table,
    sizing_table,
    sweep_table,
)

RECORDS = ROOT / "records"
TEMPLATE = Path(__file__).with_name("findings.md.j2")
PAGE = ROOT / "docs" / "findings.md"
#: Where the page's pictures go, relative to the page.
PICTURES = "findings"
#: The records the page reads, by name (a directory under records/ holding bench.json).
SOURCES = ("default", "faults", "capacity", "gthread-repeats")


@dataclass
class Source:
    """One recorded run: its name under records/, the record, and what it measured."""

    name: str
    record: BenchRecord

    def facts(self) -> str:
        """One line: when, on what, with what, how it ended."""
        env, r = self.record.environment, self.record
        levels = f"{len(r.levels)} levels, {sum(e.passed for e in r.levels)} passed" if r.levels else ""
        scenarios = f"{len(r.scenarios)} fault scenarios" if r.scenarios else ""
        return (f"`records/{self.name}`: started {r.started} ({r.status}); "
                f"{'; '.join(filter(None, [levels, scenarios]))}; {env.get('host_cpus')} cores, "
                f"kernel {env.get('kernel')}, Docker {env.get('docker_engine')}, "
                f"{env.get('k6')}, base image `{env.get('base_image')}`")


def load_sources(directory: Path = RECORDS) -> dict[str, Source]:
    """Every record of SOURCES found under ``directory``, by name."""
    found = {}
    for name in SOURCES:
        path = directory / name / "bench.json"
        if path.exists():
            found[name] = Source(name, BenchRecord.load(path))
    return found


def table(record: BenchRecord, keep=lambda case: True) -> str:
    """The levels of ``record`` whose case ``keep`` accepts, as a Markdown table."""
    return tabulate(rows(record, keep), headers=HEADERS, tablefmt="github", disable_numparse=True)


def configurations_table(record: BenchRecord) -> str:
    """One row per configuration: its command, what its server reported, the cap."""
    seen, body = set(), []
    for entry in record.levels:
        cfg = entry.configuration
        if cfg is None or entry.level.variant or cfg.service in seen:
            continue
        seen.add(cfg.service)
        roles = ", ".join(r for r, c in record.roles.items() if c == cfg.service)
        body.append([f"`{cfg.service}`", f"`{' '.join(cfg.command)}`", cfg.capacity.formula,
                     "none" if cfg.capacity.limit is None else str(cfg.capacity.limit),
                     cfg.limits.describe(), roles])
    return tabulate(sorted(body), headers=["configuration", "command", "cap, from its reported "
                                           "settings", "in flight at most", "limits", "roles"],
                    tablefmt="github", disable_numparse=True)


def claims_rows(record: BenchRecord) -> str:
    """The claims with their verdicts on ``record``, as a Markdown table."""
    body = [[c.id, c.claim, ", ".join(c.seeds), f"**{v.status}**"
             + (f" {v.condition}" if v.condition else ""), v.detail]
            for c, v in claims.verdicts(record)]
    return tabulate(body, headers=["#", "claim (paraphrased)", "seeds", "verdict", "measured"],
                    tablefmt="github", disable_numparse=True)


def _workload(name: str):
    return lambda case: case.level.workload == name


def _spread(case: Case, figure: str) -> str:
    return case.span(figure, "{:.2f}")


def combine(sources: dict[str, Source]) -> BenchRecord | None:
    """One record of the runs the verdicts read together: the default run's levels and
    roles, the fault scenarios' outcomes, the capacity run's levels and searches (so that
    a closed level and an open one at the same throughput can sit side by side)."""
    default = sources.get("default")
    if not default:
        return None
    combined = BenchRecord.from_dict(default.record.to_dict())
    if "faults" in sources:
        combined.scenarios = sources["faults"].record.scenarios
    if "capacity" in sources:
        found = sources["capacity"].record
        combined.levels += found.levels
        combined.capacities, combined.overheads = found.capacities, found.overheads
        combined.instrument = found.instrument
    return combined


def _save(charts: list, pictures: Path, into: dict) -> None:
    try:
        for chart in charts:
            chart.figure.savefig(pictures / chart.name)
            into[chart.name] = chart
    finally:
        for chart in charts:
            plt.close(chart.figure)


def render(directory: Path = RECORDS, out: Path = PAGE) -> str:
    """Render the page from the records under ``directory`` into ``out``, its pictures
    into ``out``'s folder ``PICTURES``.

    Returns:
        the page's Markdown (also written to ``out``).
    """
    from . import open_charts

    sources = load_sources(directory)
    pictures = out.parent / PICTURES
    pictures.mkdir(parents=True, exist_ok=True)
    charts: dict = {}
    default, capacity = sources.get("default"), sources.get("capacity")
    combined = combine(sources)
    if default:
        _save(charts_module.all_charts(default.record), pictures, charts)
    if capacity:
        _save(open_charts.all_charts(capacity.record), pictures, charts)
    if combined:
        _save([c for c in [open_charts.closed_open_chart(combined)] if c], pictures, charts)
    swept = analyses.sweep(default.record) if default else None
    rules = analyses.sizing_rules(default.record, swept) if default else []
    repeats = sources.get("gthread-repeats")
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                     trim_blocks=True, lstrip_blocks=True)
    text = environment.from_string(TEMPLATE.read_text()).render(
        sources=sources, default=default, faults=sources.get("faults"), repeats=repeats,
        capacity=capacity, combined=combined,
        charts=charts, pictures=PICTURES, table=table, workload=_workload,
        configurations_table=configurations_table, claims_rows=claims_rows,
        scenarios_table=scenarios_table, sweep_table=sweep_table(swept) if swept else "",
        sizing_table=sizing_table(rules) if rules else "",
        sizing_container=rules[0].container if rules else {},
        capacity_table=capacity_table, overhead_table=overhead_table,
        gthread_cases=(all_cases(repeats.record) if repeats else []), spread=_spread,
    )
    out.write_text(text)
    return text
