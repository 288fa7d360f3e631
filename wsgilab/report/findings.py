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

import statistics
from dataclasses import dataclass, replace
from pathlib import Path

import jinja2
import matplotlib.pyplot as plt
from tabulate import tabulate

from wsgilab.model.paths import ROOT
from wsgilab.model.record import BenchRecord, LevelRecord
from wsgilab.model.roles import players
from wsgilab.report import advice as advice_report
from wsgilab.report import compare as compare_report
from wsgilab.report import gallery, open_charts
from wsgilab.report import pythons as python_report
from wsgilab.report.tables import (
    HEADERS,
    capacity_table,
    overhead_table,
    rows,
    scenarios_table,
    sizing_table,
    sweep_table,
)
from wsgilab.verdicts import analyses, claims
from wsgilab.verdicts.cases import Case, all_cases

RECORDS = ROOT / "records"
README = ROOT / "README.md"
#: The README's recommendation, between these lines, is rendered from the first advise
#: record (``readme_block``), never typed.
README_START = "<!-- the recommendation: rendered by make findings from records/advise-gateway -->"
README_END = "<!-- end of the rendered recommendation -->"
TEMPLATE = Path(__file__).with_name("findings.md.j2")
PAGE = ROOT / "docs" / "findings.md"
#: Where the page's pictures go, relative to the page.
PICTURES = "findings"
#: The records the page reads, by name (a directory under records/ holding bench.json).
SOURCES = ("default", "faults", "capacity", "gthread-repeats", "python")
#: The advise runs the page shows (``make advise``), one per example app.
ADVICE_SOURCES = ("advise-gateway", "advise-shop", "advise-notes", "advise-httpbin")
#: A sweep that checks an advise record's recommendation: ``<advise record><SWEEP>``.
SWEEP = "-sweep"
#: A second run of the same plan on the same app: ``<advise record><RERUN>``.
RERUN = "-rerun"
#: The default plan as the lab ran it before every figure was read from the containers'
#: agents over HTTP, when it read them through the engine (container statistics, exec).
BEFORE_AGENTS = "default-engine"
#: The default plan run with ``--engine swarm`` (single-node swarm, one configuration at a
#: time): compared with the default run's same levels (``on_swarm``).
SWARM = "swarm"
#: What the agents read (``Probe.counters``), as (figure, how the page names it, scale).
AGENT_FIGURES = (("app_cpu_fraction", "app CPUs", 1.0), ("nginx_cpu_fraction", "nginx CPUs", 1.0),
                 ("app_memory_bytes", "app memory, MiB", 2**-20), ("app_pids", "app tasks", 1.0))


@dataclass
class Source:
    """One recorded run: its name under records/, the record, and what it measured."""

    name: str
    record: BenchRecord

    @property
    def run(self) -> str:
        """How a verdict names this run: ``records/python, started 2026-12-02 12:47``."""
        return f"records/{self.name}, started {self.record.started[:16].replace('T', ' ')}"

    def levels(self, keep=lambda entry: True) -> list[LevelRecord]:
        """Copies of the record's levels that ``keep`` accepts, each saying it is this run's
        (``LevelRecord.run``): what ``combine`` merges into the default run's record."""
        return [replace(e, run=self.run) for e in self.record.levels if keep(e)]

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
    names = SOURCES + ("default" + RERUN, BEFORE_AGENTS, SWARM) + ADVICE_SOURCES + tuple(
        n + k for n in ADVICE_SOURCES for k in (SWEEP, RERUN))
    # Sweeps of other families beside the recommended one's: <advise record>-sweep-<family>.
    others = tuple(sorted(p.parent.name for n in ADVICE_SOURCES
                          for p in directory.glob(f"{n}{SWEEP}-*/bench.json")))
    for name in names + others:
        path = directory / name / "bench.json"
        if path.exists():
            found[name] = Source(name, BenchRecord.load(path))
    return found


def sweeps_of(sources: dict[str, Source], name: str) -> list[Source]:
    """The sweeps recorded beside advise record ``name``: its recommended family's
    (``<name>-sweep``) first, then any other family's (``<name>-sweep-<family>``)."""
    return [sources[k] for k in sorted(sources, key=lambda k: (k != name + SWEEP, k))
            if k == name + SWEEP or k.startswith(f"{name}{SWEEP}-")]


def default_rerun(first: Source, second: Source) -> str:
    """Two runs of the default plan, each read alone (its own levels, no other record):
    how many of the claims got the same verdict in both, and each change with whether it
    lies outside the runs' spread (``compare.verdict_changes``), as Markdown."""
    # verdict_changes judges both runs once; what it does not list is the same.
    changes = compare_report.verdict_changes(first.record, second.record)
    total = len(claims.load())
    said = (f"`{first.run}` and `{second.run}`, each read alone: the same verdict on "
            f"{total - len(changes)} of {total} claims")
    if not changes:
        return said + "."
    real = [c for c in changes if c.kind == compare_report.REAL]
    said += (f"; {len(changes)} changed, {len(real)} of them outside the runs' spread"
             if real else f"; {len(changes)} changed, none outside the runs' spread")
    return said + ":\n\n" + tabulate(compare_report.verdict_rows(changes),
                                      headers=compare_report.VERDICT_HEADERS, tablefmt="github",
                                      disable_numparse=True)


def _medians(record: BenchRecord, figure: str) -> dict:
    """Each level's median of ``figure`` over its repeats, by level."""
    return {case.level: statistics.median(values) for case in all_cases(record)
            if (values := case.usage_values(figure))}


def _median_change(x: dict, y: dict, levels: list, scale: float) -> str:
    """The median over ``levels`` of the change from ``x`` to ``y`` (times ``scale``), and of
    the relative change where ``x`` is not zero: ``+5.08 (+3.5%)``."""
    diffs = [(y[v] - x[v]) * scale for v in levels]
    rel = [y[v] / x[v] - 1 for v in levels if x[v]]
    return (f"{statistics.median(diffs):+.3g} ({statistics.median(rel):+.1%})"
            if rel else f"{statistics.median(diffs):+.3g}")


def read_over_http(before: Source, after: Source, noise: Source) -> str:
    """What changed when the figures came from the agents: for each of AGENT_FIGURES, over
    the levels both runs measured, the median of the levels' changes from ``before`` (read
    through the engine) to ``after`` (from the agents), beside the same between ``noise``
    and ``after``, two runs of the same code. Markdown."""
    rows = []
    for figure, name, scale in AGENT_FIGURES:
        a, b, n = (_medians(s.record, figure) for s in (before, after, noise))
        both = [level for level in a if level in b]
        again = [level for level in n if level in b]
        if not both:
            continue

        rows.append([name, len(both), _median_change(a, b, both, scale),
                     _median_change(n, b, again, scale) if again else "-"])
    return tabulate(rows, headers=["figure", "levels", f"median change, {before.name} to {after.name}",
                                   f"median change, {noise.name} to {after.name}"],
                    tablefmt="github", disable_numparse=True)


def on_swarm(compose_run: Source, swarm_run: Source) -> str:
    """The default plan on a swarm beside the compose run, as Markdown: the levels both
    measured, how many peaks in flight were the same, the throughput's median and largest
    change, the levels whose status differs (with the swarm level's problems), and the
    levels the swarm engine skipped, grouped by why (its record's ``options.skipped``)."""
    changes = compare_report.compare(compose_run.record, swarm_run.record)
    peaks = [c for c in changes if c.figure == "server_peak"]
    rates = [c for c in changes if c.figure == "throughput_rps"]
    other_peaks = ", ".join(f"{c.case}: {c.a:.0f} against {c.b:.0f}" for c in peaks if c.a != c.b)
    said = [f"`{swarm_run.run}` against `{compose_run.run}`: {len(peaks)} levels measured in "
            f"both; the same peak in flight in {sum(c.a == c.b for c in peaks)} of {len(peaks)}"
            + (f" ({other_peaks})" if other_peaks else "")]
    if rates:
        largest = max(rates, key=lambda c: abs(c.change))
        said.append(f"throughput {statistics.median(abs(c.change) for c in rates):.1%} apart at "
                    f"the median, at most {largest.change:+.1%} ({largest.case}: "
                    f"{largest.a:.1f} against {largest.b:.1f} req/s)")
    status = {e.level: e.status for e in compose_run.record.levels}
    throttled = {e.level: (e.usage or {}).get("app_throttled_periods") for e in compose_run.record.levels}
    differ = [e for e in swarm_run.record.levels if e.level in status and e.status != status[e.level]]
    lines = ["; ".join(said) + ".", ""]
    for entry in differ:
        lines.append(f"- {entry.level.describe()}: {status[entry.level]} under compose, "
                     f"{entry.status} on the swarm: {'; '.join(entry.problems) or 'its checks'}; "
                     f"periods its CPU quota throttled it: "
                     f"{(entry.usage or {}).get('app_throttled_periods')} on the swarm, "
                     f"{throttled[entry.level]} under compose")
    reasons: dict[str, int] = {}
    for described, why in swarm_run.record.options.get("skipped") or []:
        reason = why.removeprefix(f"{described.split()[0]}: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, count in sorted(reasons.items()):
        lines.append(f"- skipped, {count} level{'s' if count != 1 else ''}: {reason}")
    return "\n".join(lines)


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
        roles = ", ".join(r for r in record.roles if cfg.service in players(record.roles, r))
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
    a closed level and an open one at the same throughput can sit side by side), the
    repeats run's cases in place of the default run's single runs of the same cases, and
    the Python run's levels on other interpreters. Every part read from another run than
    the default one says which (``LevelRecord.run``, ``BenchRecord.runs``: ``Source.run``),
    and a verdict that reads it names it; None without the default run."""
    default = sources.get("default")
    if not default:
        return None
    combined = BenchRecord.from_dict(default.record.to_dict())
    if "faults" in sources:
        combined.scenarios = sources["faults"].record.scenarios
        combined.runs["scenarios"] = sources["faults"].run
    if "capacity" in sources:
        found = sources["capacity"]
        combined.levels += found.levels()
        combined.capacities, combined.overheads = found.record.capacities, found.record.overheads
        combined.load_side = found.record.load_side
        combined.runs["capacities"] = found.run
    if "gthread-repeats" in sources:  # a case measured there is read from its repeats, not
        # from the default run's one: the repeats are what tells a verdict from the noise
        found = sources["gthread-repeats"]
        repeated = {e.level.case() for e in found.record.levels}
        combined.levels = [e for e in combined.levels if e.level.case() not in repeated]
        combined.levels += found.levels()
    if "python" in sources:  # the levels on other Pythons (a level on the base one is not
        # a repeat of the default run's: another run, another day)
        found = sources["python"]
        combined.levels += found.levels(lambda e: e.level.variant.python is not None)
        combined.pythons = found.record.pythons
    return combined


def _save(charts: list, pictures: Path, into: dict) -> None:
    try:
        for chart in charts:
            chart.figure.savefig(pictures / chart.name)
            into[chart.name] = chart
    finally:
        for chart in charts:
            plt.close(chart.figure)


def readme_block(directory: Path = RECORDS) -> str | None:
    """The README's recommendation block: the first advise record's closing text, and its
    capacity picture; None when no advise record is there."""
    for name in ADVICE_SOURCES:
        path = directory / name / "bench.json"
        if path.exists():
            record = BenchRecord.load(path)
            return (f"{README_START}\n```text\n$ make advise APP=examples/{record.advice['app']['name']}"
                    f"\n...\n{advice_report.text(record, show_path=False).strip()}\n```\n\n"
                    f"![each candidate's capacity]({PAGE.parent.name}/{PICTURES}/{name}-capacity.png)"
                    f"\n{README_END}")
    return None


def write_readme(readme: Path = README, directory: Path = RECORDS) -> bool:
    """Replace the README's recommendation block with ``readme_block``; False when the
    README has no block or there is no advise record."""
    block = readme_block(directory)
    text = readme.read_text()
    if block is None or README_START not in text or README_END not in text:
        return False
    start, end = text.index(README_START), text.index(README_END) + len(README_END)
    readme.write_text(text[:start] + block + text[end:])
    return True


def _model_table(record: BenchRecord) -> str:
    """The app in each family (``advice.model_rows``) as a Markdown table; "" for none."""
    rows = advice_report.model_rows(record)
    return (tabulate(rows, headers=advice_report.MODEL_HEADERS, tablefmt="github",
                     disable_numparse=True) if rows else "")


def render(directory: Path = RECORDS, out: Path = PAGE) -> str:
    """Render the page from the records under ``directory`` into ``out``, its pictures
    into ``out``'s folder ``PICTURES``.

    Returns:
        the page's Markdown (also written to ``out``).
    """

    sources = load_sources(directory)
    pictures = out.parent / PICTURES
    pictures.mkdir(parents=True, exist_ok=True)
    charts: dict = {}
    default, capacity = sources.get("default"), sources.get("capacity")
    combined = combine(sources)
    if default:
        _save(gallery.all_charts(default.record), pictures, charts)
    if capacity:
        _save(open_charts.all_charts(capacity.record), pictures, charts)
    if combined:  # the default run's closed levels beside the capacity run's open ones
        # (the repeats run's cases are for the verdicts, not this picture)
        pairs = combine({k: v for k, v in sources.items() if k != "gthread-repeats"})
        _save([c for c in [open_charts.closed_open_chart(pairs)] if c], pictures, charts)
    python = sources.get("python")
    if python:
        _save([c for c in [python_report.cpu_chart(python.record)] if c], pictures, charts)
    advised = [sources[n] for n in ADVICE_SOURCES if n in sources]
    sweeps = {n: found for n in ADVICE_SOURCES if n in sources and (found := sweeps_of(sources, n))}
    reruns = {n: sources[n + RERUN] for n in ADVICE_SOURCES if n in sources and n + RERUN in sources}
    for source in advised:
        made = [c for c in (advice_report.capacity_chart(source.record),
                            advice_report.concurrency_chart(source.record),
                            advice_report.latency_chart(source.record)) if c is not None]
        _save([replace(c, name=f"{source.name}-{c.name.removeprefix('advice-')}") for c in made],
              pictures, charts)
    for source in (s for found in sweeps.values() for s in found):
        chart = advice_report.concurrency_chart(source.record)
        if chart is not None:
            _save([replace(chart, name=f"{source.name}.png",
                           title=f"The sweep of {source.record.options.get('sweep')}")],
                  pictures, charts)
    swept = analyses.sweep(default.record) if default else None
    rules = analyses.sizing_rules(default.record, swept) if default else []
    repeats = sources.get("gthread-repeats")
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                     trim_blocks=True, lstrip_blocks=True)
    text = environment.from_string(TEMPLATE.read_text()).render(
        sources=sources, default=default, faults=sources.get("faults"), repeats=repeats,
        capacity=capacity, combined=combined, python=python, python_report=python_report,
        charts=charts, pictures=PICTURES, table=table, workload=_workload,
        configurations_table=configurations_table, claims_rows=claims_rows,
        scenarios_table=scenarios_table, sweep_table=sweep_table(swept) if swept else "",
        sizing_table=sizing_table(rules) if rules else "",
        sizing_container=rules[0].container if rules else {},
        capacity_table=capacity_table, overhead_table=overhead_table,
        gthread_cases=(all_cases(repeats.record) if repeats else []), spread=_spread,
        advised=advised, advice_text=lambda r: advice_report.text(r, show_path=False),
        advice_model=_model_table,
        sweeps=sweeps, sweep_check=advice_report.sweep_check,
        reruns=reruns, rerun_check=advice_report.rerun_check,
        default_rerun=(default_rerun(default, sources["default" + RERUN])
                       if default and "default" + RERUN in sources else ""),
        before_agents=sources.get(BEFORE_AGENTS),
        on_swarm=(on_swarm(default, sources[SWARM]) if default and SWARM in sources else ""),
        read_over_http=(read_over_http(sources[BEFORE_AGENTS], default, sources["default" + RERUN])
                        if default and BEFORE_AGENTS in sources and "default" + RERUN in sources
                        else ""),
        advice_candidates=lambda r: tabulate(advice_report.candidate_rows(r),
                                             headers=advice_report.CANDIDATE_HEADERS,
                                             tablefmt="github", disable_numparse=True),
    )
    out.write_text(text)
    return text
