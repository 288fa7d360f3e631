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
from wsgilab.lab import topology
from wsgilab.lab.session import LabSession
from wsgilab.model.levels import Variant
from wsgilab.model.load import Load
from wsgilab.model.record import LevelRecord
from wsgilab.model.theory import Check
from wsgilab.studies import bench
from wsgilab.studies.options import BenchOptions

#: The container the lab's own client scripts run in (on the internal backend network).
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
    """Everything a scenario needs: the Docker client, where results go, and the tools.

    Attributes:
        client: the Docker SDK client.
        lab: the run's lab session: every change to a container goes through it, and it
            puts each back (``restore``, and the session's end).
        roles: ``{role: configuration}``: scenarios name the configurations they need by
            role (``configuration``).
        light: the short form for the tests (fewer configurations, smaller loads).
    """

    client: object
    lab: LabSession
    directory: Path
    roles: dict = field(default_factory=dict)
    base_url: str = topology.DEFAULT_BASE_URL
    light: bool = False
    out: Callable[[str], None] = print

    # --- configurations ------------------------------------------------------------
    def configuration(self, role: str) -> str:
        """The configuration that plays ``role`` (``compose.roles``).

        Raises:
            LookupError: no configuration plays it (a ``lab.roles`` label is missing).
        """
        try:
            return self.roles[role]
        except KeyError:
            raise LookupError(f"no configuration plays the role {role!r}: add it to one "
                              f"configuration's lab.roles label in compose/") from None

    def apply(self, service: str, variant: Variant = Variant()) -> topology.Configuration:
        """``service`` running with ``variant`` (recreated if it differs), idle, its facts.

        Raises:
            compose.ComposeError, ConnectionError, TimeoutError: it does not come up.
        """
        self.lab.apply(service, variant)
        topology.wait_idle(topology.container(service, self.client))
        return topology.discover(service, self.base_url, self.client)

    def restore(self) -> None:
        """Every change the scenario made, put back (``LabSession.undo``)."""
        self.lab.undo()

    def container(self, service: str):
        return topology.container(service, self.client)

    def health(self, service: str) -> dict:
        return topology.health(service, self.base_url)

    # --- load ------------------------------------------------------------------------
    def level(self, configuration: str, workload: str, load: Load, params: dict | None = None,
              variant: Variant = Variant(), duration_s: int = 6,
              warmup_s: int = 2) -> LevelRecord:
        """Run one k6 level through nginx (the bench's own machinery, no validation: a
        scenario may ask past a limit on purpose) and return its record."""
        level = workloads.get(workload).level(configuration, load, params, variant)
        opts = BenchOptions(workloads=(workload,), services=(configuration,),
                            duration_s=duration_s, warmup_s=warmup_s, base_url=self.base_url,
                            results_dir=self.directory, raw=False)
        cfg = self.apply(configuration, variant)
        return bench.run_level(opts, level, cfg, self.client)

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
    def client_script(self, script: str, timeout_s: float = 120.0) -> dict:
        """Run a Python ``script`` in the lab's own client (the ``upstream`` container, on
        the internal network); it prints one JSON object last, which is returned.

        Raises:
            RuntimeError: the script failed.
        """
        result = self.container(CLIENT_CONTAINER).exec_run(
            ["timeout", str(int(timeout_s)), "python3", "-c", script])
        output = result.output.decode(errors="replace").strip()
        if result.exit_code != 0:
            raise RuntimeError(f"the lab's client failed ({result.exit_code}): {output[-400:]}")
        return json.loads(output.splitlines()[-1])

    def signal_process(self, service: str, pid: int, signal_name: str = "SIGKILL") -> None:
        """Send a signal to process ``pid`` (its number inside the container) of ``service``,
        as the container's own user."""
        script = f"import os, signal; os.kill({int(pid)}, signal.{signal_name})"
        result = self.container(service).exec_run(["python3", "-c", script])
        if result.exit_code != 0:
            raise RuntimeError(f"could not signal {pid} in {service}: {result.output.decode()}")

    def read_file(self, service: str, path: str) -> str:
        """A file inside ``service``'s container ('' when it cannot be read)."""
        result = self.container(service).exec_run(["cat", path])
        return result.output.decode(errors="replace") if result.exit_code == 0 else ""


def oom_kills(ctx: Context, service: str) -> int | None:
    """The kernel's count of OOM kills in ``service``'s cgroup (v1 ``memory.oom_control``,
    v2 ``memory.events``), or None when neither is readable."""
    for path, key in (("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill"),
                      ("/sys/fs/cgroup/memory.events", "oom_kill")):
        for line in ctx.read_file(service, path).splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    return None

