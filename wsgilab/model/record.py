"""The bench's record: one typed entry per level, kept in ``bench.json``.

The bench writes it, and the table, the report, the CLI and the tests read it, all through
these dataclasses (``BenchRecord.load``), never through string keys of their own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from wsgilab.model.facts import Configuration
from wsgilab.model.levels import Level
from wsgilab.model.results import LevelResult
from wsgilab.model.roles import normalised
from wsgilab.model.theory import Check

#: A level's status: it met every check, missed one, or could not be measured; or the load
#: side, not the server, was full (``wsgilab.lab.loadside``): its figures are reported, but
#: it is neither a pass nor the server's failure.
PASS, FAIL, ERROR, INSTRUMENT_BOUND = "pass", "FAIL", "error", "instrument-bound"


@dataclass
class LevelRecord:
    """One level as run.

    Attributes:
        level: what was run.
        status: ``pass``, ``FAIL``, ``error`` or ``instrument-bound``.
        problems: why it did not pass, each with expected vs measured.
        configuration: the configuration's facts as they were for this level (command,
            limits and settings read back from the running container).
        checks: the expectation, one ``Check`` per figure checked.
        summary: the k6 summary's path, relative to the run's directory.
        result: what k6 measured; figures: the workload's result fields from it.
        usage: what the level used, as the instrument measured it: k6's CPU, the app
            container's CPU, throttling and memory, nginx's CPU (fractions of one CPU over
            the steady window), the load cores' busy time, the arrivals an open load sent,
            and the backend's own counts (``Workload.observer``).
        backend: what the workload read of its backend before the level (``Facts.backend``).
        run: the other recorded run this level was read from, where records are merged
            into one (``wsgilab.report.findings.combine``: ``"records/python, started
            2026-12-02 12:47"``); "" for the record's own levels. A verdict that reads it
            says so.
    """

    level: Level
    status: str = ERROR
    problems: list[str] = field(default_factory=list)
    configuration: Configuration | None = None
    checks: list[Check] = field(default_factory=list)
    summary: str | None = None
    result: LevelResult | None = None
    figures: dict = field(default_factory=dict)
    usage: dict | None = None
    backend: dict = field(default_factory=dict)
    run: str = ""

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def to_dict(self) -> dict:
        return {
            "level": self.level.to_dict(),
            "status": self.status,
            "problems": list(self.problems),
            "configuration": self.configuration.to_dict() if self.configuration else None,
            "checks": [c.to_dict() for c in self.checks],
            "summary": self.summary,
            "result": self.result.to_dict() if self.result else None,
            "figures": self.figures,
            "usage": self.usage,
            "backend": self.backend,
            **({"run": self.run} if self.run else {}),
        }

    @classmethod
    def from_dict(cls, data: dict) -> LevelRecord:
        return cls(
            level=Level.from_dict(data["level"]),
            status=data["status"],
            problems=list(data.get("problems", [])),
            configuration=(Configuration.from_dict(data["configuration"])
                           if data.get("configuration") else None),
            checks=[Check.from_dict(c) for c in data.get("checks", [])],
            summary=data.get("summary"),
            result=LevelResult.from_dict(data["result"]) if data.get("result") else None,
            figures=data.get("figures") or {},
            usage=data.get("usage", data.get("load")),  # "load" before 2026-12-02
            backend=data.get("backend") or {},
            run=data.get("run", ""),
        )


@dataclass
class BenchRecord:
    """A whole bench run.

    Attributes:
        started, finished: ISO 8601 UTC times; status: ``running``, ``complete``,
            ``failed`` or ``interrupted``.
        options: the options it ran with; environment: engine, k6, base image, host.
        levels: every level run so far, in order.
        scenarios: fault scenarios run (``wsgilab.studies.faults``), by name: their outcomes.
        roles: ``{role: [configuration, ...]}`` as the compose model declared them for this
            run (``compose.roles``): what the claims read to find the configurations they
            judge. Records written when a role had one player hold ``{role: configuration}``;
            ``from_dict`` reads them as one-player lists.
        capacities: capacity searches (``capacity.Search.to_dict``), in the order run.
        overheads: server overhead per configuration (``studies.capacity``): CPU ms per
            request on a near-zero-work request, and the req/s one CPU could serve.
        load_side: the run's calibration of its load side (``loadside.Calibration``);
            records before 2026-12-06 call it ``instrument``.
        advice: an advise run's app, smoke pass, candidates, their results, diagnoses and
            recommendation (``wsgilab.studies.advise.runner``); {} for other runs.
        pythons: the interpreters other than the base image's that levels ran on, by name:
            the interpreter and what of the servers' and the app's pins installed there,
            substituted or was left out, with pip's reason (``wsgilab.lab.pythons.stage``).
        runs: where records are merged into one (``wsgilab.report.findings.combine``), the
            other recorded run each merged part was read from, ``{part: run}`` for the
            parts ``capacities`` and ``scenarios`` (a merged level says it itself:
            ``LevelRecord.run``); {} for a run's own record.
        path: where the record lives (its directory holds the level files); not saved.
    """

    started: str
    options: dict
    environment: dict
    finished: str | None = None
    status: str = "running"
    levels: list[LevelRecord] = field(default_factory=list)
    scenarios: dict = field(default_factory=dict)
    roles: dict = field(default_factory=dict)
    capacities: list = field(default_factory=list)
    overheads: list = field(default_factory=list)
    load_side: dict = field(default_factory=dict)
    advice: dict = field(default_factory=dict)
    pythons: dict = field(default_factory=dict)
    runs: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def directory(self) -> Path:
        """The run's results directory.

        Raises:
            ValueError: the record was never saved or loaded.
        """
        if self.path is None:
            raise ValueError("this bench record has no file yet")
        return self.path.parent

    def configurations(self) -> list[str]:
        """The configurations measured, in order of first appearance."""
        return list(dict.fromkeys(lv.level.configuration for lv in self.levels))

    def find(self, **match) -> list[LevelRecord]:
        """Level records whose ``Level`` attributes equal ``match`` (e.g. workload="cpu")."""
        return [lv for lv in self.levels
                if all(getattr(lv.level, k) == v for k, v in match.items())]

    def to_dict(self) -> dict:
        return {"started": self.started, "finished": self.finished, "status": self.status,
                "options": self.options, "environment": self.environment,
                "levels": [lv.to_dict() for lv in self.levels], "scenarios": self.scenarios,
                "roles": self.roles, "capacities": self.capacities, "overheads": self.overheads,
                "load_side": self.load_side, "advice": self.advice, "pythons": self.pythons,
                **({"runs": self.runs} if self.runs else {})}

    @classmethod
    def from_dict(cls, data: dict, path: Path | None = None) -> BenchRecord:
        """A record from its JSON form (``to_dict``); ``path`` is where it was read from.
        Its roles come out as ``{role: [configuration, ...]}``, also from records written
        as ``{role: configuration}`` before a role could have several players.

        Raises:
            KeyError: ``data`` has no ``started``, or a level lacks a field it needs.
        """
        return cls(started=data["started"], finished=data.get("finished"),
                   status=data.get("status", "unknown"), options=data.get("options", {}),
                   environment=data.get("environment", {}),
                   levels=[LevelRecord.from_dict(lv) for lv in data.get("levels", [])],
                   scenarios=data.get("scenarios", {}),
                   roles=normalised(data.get("roles", {})),
                   capacities=data.get("capacities", []), overheads=data.get("overheads", []),
                   load_side=data.get("load_side", data.get("instrument", {})),
                   advice=data.get("advice", {}),
                   pythons=data.get("pythons", {}), runs=data.get("runs", {}), path=path)

    def save(self, path: Path | None = None) -> None:
        """Write the record as JSON, atomically (a reader never sees half a file)."""
        self.path = Path(path or self.path)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, default=str))
        tmp.replace(self.path)

    @classmethod
    def load(cls, path: Path | str) -> BenchRecord:
        """Read ``bench.json`` (or the directory that holds it).

        Raises:
            OSError, json.JSONDecodeError: no readable record there.
        """
        path = Path(path)
        if path.is_dir():
            path = path / "bench.json"
        return cls.from_dict(json.loads(path.read_text()), path)
