"""What a fault scenario declares, what it returns, and the tools every scenario shares.

A scenario is bounded in count and time and stops by itself; its load goes to nginx on
127.0.0.1, or, where it must reach a configuration directly (slow and silent clients), to
the configurations on the lab's own internal network, from the lab's own client: a Python
script run inside the ``upstream`` container, which sits on that network.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wsgilab import workloads
from wsgilab.lab.measure import Pace
from wsgilab.lab.run import Run
from wsgilab.lab.session import LabSession, NotServing
from wsgilab.model.facts import Configuration
from wsgilab.model.levels import Variant
from wsgilab.model.load import Load
from wsgilab.model.record import LevelRecord
from wsgilab.model.roles import player
from wsgilab.model.theory import Check

#: The container whose agent runs the lab's own clients (on the internal backend network).
CLIENT_CONTAINER = "upstream"
#: Seconds a probe through nginx may take before it counts as not served.
PROBE_TIMEOUT_S = 10.0


@dataclass
class Outcome:
    """What one configuration did in one scenario.

    Attributes:
        configuration: the configuration (with its variant, in words).
        figures: what was measured, units in the names.
        checks: the scenario's expectations, each with its source.
        problems: the checks it missed, each with expected vs measured.
        summary: one line for the README's table.
    """

    configuration: str
    figures: dict
    checks: list[Check]
    summary: str
    problems: list[str] = field(default_factory=list)

    def judge(self) -> Outcome:
        self.problems = [p for c in self.checks if (p := c.problem(self.figures.get(c.figure)))]
        return self

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        data = asdict(self)
        data["passed"] = self.passed
        return data


def each(one: Callable[[Context, str], Outcome], roles: tuple[str, ...],
         light_roles: tuple[str, ...]) -> Callable[[Context], list[Outcome]]:
    """A scenario's ``run``: ``one(ctx, configuration)`` for the configuration of each role,
    or of each light role when the run is light."""
    def run(ctx: Context) -> list[Outcome]:
        return [one(ctx, ctx.configuration(r)) for r in (light_roles if ctx.light else roles)]
    return run


@dataclass(frozen=True)
class Scenario:
    """A fault scenario: its name, what it shows, its source, and how it runs.

    Attributes:
        run: ``(context) -> [Outcome]``, bounded in count and time.
        order: position in ``make faults`` (lower first).
    """

    name: str
    title: str
    description: str
    run: Callable[[Context], list[Outcome]]
    order: int = 50


@dataclass
class Context:
    """Everything a scenario needs: the run it is part of, its name, and the tools.

    Attributes:
        run: the run (``wsgilab.lab.run.Run``): its session owns every change to a
            container and puts each back (``restore``, and the session's end); its engine
            signals processes inside containers and runs the lab's own client there; its
            probe asks each configuration's instrument, where every figure is read.
        name: the scenario's name: its levels' files go in that subfolder of the run's.
        roles: ``{role: [configuration, ...]}``: scenarios name the configurations they
            need by role (``configuration``).
        light: the short form for the tests (fewer configurations, smaller loads).
    """

    run: Run
    name: str
    roles: dict = field(default_factory=dict)
    light: bool = False

    @property
    def lab(self) -> LabSession:
        return self.run.session

    @property
    def base_url(self) -> str:
        return self.run.probe.base_url

    @property
    def directory(self) -> Path:
        return self.run.directory / self.name

    def out(self, line: str) -> None:
        self.run.out(line)

    # --- configurations ------------------------------------------------------------
    def configuration(self, role: str) -> str:
        """The configuration that plays ``role`` (``compose.roles``), the first when several
        do.

        Raises:
            LookupError: no configuration plays it (a ``lab.roles`` label is missing).
        """
        found = player(self.roles, role)
        if found is None:
            raise LookupError(f"no configuration plays the role {role!r}: add it to one "
                              f"configuration's lab.roles label in compose/")
        return found

    def apply(self, service: str, variant: Variant = Variant()) -> Configuration:
        """``service`` running with ``variant`` (recreated if it differs), idle, its facts.

        Raises:
            NotServing: it does not come up.
        """
        self.run.forget(service)  # a scenario changes what runs: read it back each time
        cfg = self.run.serving(service, variant)
        if isinstance(cfg, NotServing):
            raise cfg
        return cfg

    def restore(self) -> None:
        """Every change the scenario made, put back (``LabSession.undo``)."""
        self.lab.undo()
        for service in self.run.session.engine.configurations():
            self.run.forget(service)

    def logs(self, service: str, tail: int = 200) -> str:
        """The last ``tail`` lines of ``service``'s log."""
        return self.run.engine.logs(service, tail)

    def health(self, service: str) -> dict:
        return self.run.probe.health(service)

    def wait_drained(self, service: str, timeout_s: float = 30.0) -> float:
        return self.run.probe.wait_drained(service, timeout_s=timeout_s)

    # --- load ------------------------------------------------------------------------
    def level(self, configuration: str, workload: str, load: Load, params: dict | None = None,
              variant: Variant = Variant(), duration_s: int = 6,
              warmup_s: int = 2) -> LevelRecord:
        """Run one k6 level through nginx (the run's own machinery, no validation: a
        scenario may ask past a limit on purpose) and return its record, which is the
        outcome's evidence, not one of the run's levels."""
        level = workloads.get(workload).level(configuration, load, params, variant)
        cfg = self.apply(configuration, variant)
        return self.run.measure(level, cfg, pace=Pace(duration_s, warmup_s, raw=False),
                                folder=self.name, keep=False)

    def get(self, path: str, timeout_s: float = PROBE_TIMEOUT_S) -> tuple[int, dict, float]:
        """GET ``path`` through nginx: (status, JSON body or {}, seconds taken); status 0
        when no answer came in ``timeout_s``."""
        started = time.monotonic()
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=timeout_s) as resp:
                body = resp.read()
                status = resp.status
        except urllib.error.HTTPError as err:
            body, status = err.read(), err.code
        except (urllib.error.URLError, OSError):
            return 0, {}, time.monotonic() - started
        try:
            data = json.loads(body)
        except ValueError:
            data = {"not_json": body[:80].decode(errors="replace")}
        return status, data, time.monotonic() - started

    def wait_served(self, service: str, timeout_s: float = 60.0) -> float:
        """Seconds until ``service`` answers a short request with 200 again.

        Raises:
            TimeoutError: not within ``timeout_s``.
        """
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.get(f"/{service}/io?ms=1", timeout_s=5)[0] == 200:
                return time.monotonic() - started
            time.sleep(0.2)
        raise TimeoutError(f"{service} did not answer 200 within {timeout_s:.0f} s")

    # --- inside the containers -------------------------------------------------------
    def client(self, kind: str, timeout_s: float = 180.0, **params) -> dict:
        """One of the lab's own clients inside its networks (``silent``, ``slow``,
        ``keepalive``: services/instrument/labinstrument/clients.py), run by the agent in
        the ``upstream`` container and asked over HTTP through the front end; what it
        answers.

        Raises:
            RuntimeError: no answer, or the client refused its parameters.
        """
        try:
            return self.run.probe.agent(CLIENT_CONTAINER, f"clients/{kind}", timeout_s, **params)
        except ConnectionError as exc:
            raise RuntimeError(f"the lab's {kind} client did not answer: {exc}") from None

    def signal_process(self, service: str, pid: int, signal_name: str = "SIGKILL") -> None:
        """Send a signal to process ``pid`` (its number inside the container) of ``service``,
        as the container's own user."""
        script = f"import os, signal; os.kill({int(pid)}, signal.{signal_name})"
        status, output = self.run.engine.exec(service, ["python3", "-c", script])
        if status != 0:
            raise RuntimeError(f"could not signal {pid} in {service}: {output}")


def oom_kills(ctx: Context, service: str) -> int | None:
    """The kernel's count of OOM kills in ``service``'s cgroup, as its instrument reports
    it over HTTP (``/_lab/health``'s ``container.memory_events``, from v1
    ``memory.oom_control`` or v2 ``memory.events``), or None when it reports none or does
    not answer."""
    try:
        events = ctx.health(service)["container"].get("memory_events") or {}
    except (ConnectionError, KeyError):
        return None
    return events.get("oom_kill")
