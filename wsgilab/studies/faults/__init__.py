"""When things go wrong: one module per fault scenario, measured per configuration.

Each module declares ``SCENARIO`` (``base.Scenario``): what it shows, its source, and a
``run`` that is bounded in count and time and returns an ``Outcome`` per configuration,
judged against declared expectations. ``make faults`` runs them all; the tests run each in
its light form. Results go into the run's ``bench.json`` (``scenarios``) and its report.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

from wsgilab.lab import compose
from wsgilab.lab.measure import Pace
from wsgilab.lab.run import Run, base_image, front_end_cpuset
from wsgilab.model.record import BenchRecord
from wsgilab.studies.faults.base import Context, Scenario


@cache
def registry() -> dict[str, Scenario]:
    """Every scenario, by name, in their declared order."""
    found = [importlib.import_module(f"{__name__}.{info.name}").SCENARIO
             for info in pkgutil.iter_modules(__path__) if info.name != "base"]
    return {s.name: s for s in sorted(found, key=lambda s: (s.order, s.name))}


def run(names: list[str], directory: Path, light: bool = False,
        out=lambda line: print(line, flush=True), **run_args) -> BenchRecord:
    """Run the scenarios ``names`` and record them in ``directory``/bench.json.

    The run's session owns the lab: every configuration a scenario changed (recreated,
    stopped) is put back before the next scenario and on any way out. A scenario that fails
    outright (the lab would not start a configuration) is recorded with its error; the
    others still run. Rendering the report is a separate step (``wsgilab.report.write``).

    Args:
        run_args: passed to ``Run`` (a fake engine in the unit tests).

    Raises:
        KeyError: an unknown scenario.
        KeyboardInterrupt, session.Interrupted: stopped by a signal, after the record is
            saved and the lab put back.
    """
    scenarios = [registry()[n] for n in names]
    with Run(directory, "faults", {"scenarios": names, "light": light}, Pace(raw=False),
             out=out, roles=compose.roles(), edge_cpuset=front_end_cpuset(), **run_args) as lab:
        lab.describe_environment(base_image())
        for index, scenario in enumerate(scenarios, 1):
            out(f"[{index}/{len(scenarios)}] {scenario.name}: {scenario.title}")
            ctx = Context(lab, scenario.name, roles=lab.record.roles, light=light)
            ctx.directory.mkdir(parents=True, exist_ok=True)
            entry = {"title": scenario.title, "description": scenario.description}
            try:
                outcomes = scenario.run(ctx)
                entry["outcomes"] = [o.judge().to_dict() for o in outcomes]
                for o in outcomes:
                    out(f"    {o.configuration}: {o.summary}  {'pass' if o.passed else 'FAIL'}")
                    for problem in o.problems:
                        out(f"        {problem}")
            except Exception as exc:  # recorded; the next scenario still runs
                entry["error"] = f"{type(exc).__name__}: {exc}"
                out(f"    error: {entry['error']}")
            finally:
                ctx.restore()
            lab.record.scenarios[scenario.name] = entry
            lab.record.save()
    return lab.record
