"""When things go wrong: one module per fault scenario, measured per configuration.

Each module declares ``SCENARIO`` (``base.Scenario``): what it shows, its source, and a
``run`` that is bounded in count and time and returns an ``Outcome`` per configuration,
judged against declared expectations. ``make faults`` runs them all; the tests run each in
its light form. Results go into the run's ``bench.json`` (``scenarios``) and its report.
"""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
from functools import cache
from pathlib import Path

import docker

from wsgilab.lab import compose
from wsgilab.lab.session import DockerEngine, Interrupted, LabSession
from wsgilab.model.record import BenchRecord
from wsgilab.studies import bench
from wsgilab.studies.faults.base import Context, Scenario


@cache
def registry() -> dict[str, Scenario]:
    """Every scenario, by name, in their declared order."""
    found = [importlib.import_module(f"{__name__}.{info.name}").SCENARIO
             for info in pkgutil.iter_modules(__path__) if info.name != "base"]
    return {s.name: s for s in sorted(found, key=lambda s: (s.order, s.name))}


def run(names: list[str], directory: Path, light: bool = False,
        out=lambda line: print(line, flush=True)) -> BenchRecord:
    """Run the scenarios ``names`` and record them in ``directory``/bench.json.

    The lab is owned by a ``LabSession``: every configuration a scenario changed (recreated,
    stopped) is put back before the next scenario and on any way out. A scenario that fails
    outright (the lab would not start a configuration) is recorded with its error; the
    others still run. Rendering the report is a separate step (``wsgilab.report.write``).

    Raises:
        KeyError: an unknown scenario.
        KeyboardInterrupt, session.Interrupted: stopped by a signal, after the record is
            saved and the lab put back.
    """
    scenarios = [registry()[n] for n in names]
    directory.mkdir(parents=True, exist_ok=True)
    client = docker.from_env()
    record = BenchRecord(started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                         options={"scenarios": names, "light": light},
                         environment=bench.environment(client), roles=compose.roles())
    record.save(directory / "bench.json")
    edge = str(compose.config()["services"][bench.FRONT_END]["cpuset"])
    lab = LabSession(DockerEngine(client), out, edge_cpuset=edge)
    record.status = "failed"
    try:
        with lab:
            record.environment["reconciled"] = lab.reconciled
            for index, scenario in enumerate(scenarios, 1):
                out(f"[{index}/{len(scenarios)}] {scenario.name}: {scenario.title}")
                ctx = Context(client, lab, directory / scenario.name, roles=record.roles,
                              light=light, out=out)
                ctx.directory.mkdir(exist_ok=True)
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
                    lab.undo()
                record.scenarios[scenario.name] = entry
                record.save()
            record.status = "complete"
    except KeyboardInterrupt:
        record.status = "interrupted (SIGINT)"
        raise
    except Interrupted as exc:
        record.status = f"interrupted ({exc})"
        raise
    finally:
        record.environment["restored"] = lab.restored
        record.finished = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        record.save()
    return record
