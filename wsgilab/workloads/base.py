"""What a workload declares, and the facts its expectation rule reads."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from wsgilab.model.facts import Facts
from wsgilab.model.levels import Level, Variant
from wsgilab.model.load import CONSTANT, OPEN_VUS_HEADROOM, Closed, Load, Open, open_vus
from wsgilab.model.objective import Objective
from wsgilab.model.paths import absolute
from wsgilab.model.results import LevelResult
from wsgilab.model.roles import players
from wsgilab.model.theory import Check, open_figures

_WHOLE = re.compile(r"^-?[0-9]+$")


@dataclass(frozen=True)
class Param:
    """One parameter of a workload, passed to its k6 script as an environment variable.

    Attributes:
        name: the parameter's name in the lab (``io_ms``); env: in k6 (``IO_MS``).
        default: its value when the bench is not told otherwise.
        low, high: bounds of a whole-number parameter; choices: the values of a named one.
        unit: for messages (``milliseconds``); help: one line for ``--help``.
        in_name: part of the level's name and file names (an axis of the workload).
        path: a file's path, kept relative to the repository in records so that they
            travel; k6 is given it absolute (k6's ``open()`` reads a relative path from
            the script's own folder, not from where k6 runs).
    """

    name: str
    env: str
    default: int | str
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""
    help: str = ""
    in_name: bool = False
    path: bool = False

    def parse(self, text: str) -> int | str:
        """Read a value given on the command line.

        Raises:
            ValueError: not a whole number in [low, high], or not one of the choices.
        """
        if self.choices:
            if text not in self.choices:
                raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}, got {text!r}")
            return text
        if not _WHOLE.match(text.strip()):
            raise ValueError(f"{self.name} must be a whole number of {self.unit}, got {text!r}")
        value = int(text)
        if not self.low <= value <= self.high:
            raise ValueError(f"{self.name} must be {self.low}..{self.high} {self.unit}, got {value}")
        return value


@dataclass(frozen=True)
class Column:
    """A result field a workload shows in tables: figure name, header, format."""

    figure: str
    header: str
    fmt: str = "{:.1f}"


@dataclass(frozen=True)
class PlanRequest:
    """What the user asked of the bench, for a workload to build its default plan from.

    Attributes:
        services: configurations the user selected (all by default), in order.
        vus: closed loads the user gave (VUs), or None.
        rates: open loads the user gave (arrival rates, req/s), or None. With neither, each
            workload runs its own loads.
        arrivals: how open loads' requests arrive (``load.CONSTANT`` or ``load.POISSON``).
        objective: the latency objective; an open load's VUs are sized from it.
        params: parameter values the user set (already parsed), for every workload: each
            takes its own.
        memory_bytes: the memory limit the configurations run with (declared, or the
            user's limits), for the rules that read it.
        matrix: run every value of the workload's axes (``Param.in_name``) for every
            selected configuration, not its default cases.
        roles: ``{role: [configuration, ...]}`` (``compose.roles``): a plan names the
            configurations it needs by role.
    """

    services: tuple[str, ...]
    vus: tuple[int, ...] | None
    params: dict
    memory_bytes: int | None
    matrix: bool = False
    roles: dict = field(default_factory=dict)
    rates: tuple[float, ...] | None = None
    arrivals: str = CONSTANT
    objective: Objective = field(default_factory=Objective)

    def loads(self, service_ms: float) -> list[Load] | None:
        """The loads the user gave, closed then open, or None when none was given.

        Args:
            service_ms: the request's own service time (ms), which the objective's default
                bound, and so an open load's VUs, are sized from.
        """
        if not self.vus and not self.rates:
            return None
        bound_s = self.objective.bound_for(service_ms) / 1000.0
        return ([Closed(v) for v in self.vus or ()]
                + [Open(r, open_vus(r, bound_s, OPEN_VUS_HEADROOM, self.arrivals), self.arrivals)
                   for r in self.rates or ()])

    def selected(self, role: str) -> str | None:
        """The first configuration that plays ``role`` among those the user selected, or
        None when the user selected none of its players."""
        # Among the selected ones: selecting only the second player of a role still runs it.
        return next((c for c in players(self.roles, role) if c in self.services), None)


@dataclass(frozen=True)
class Workload:
    """A workload: its script, parameters, classes, expectation rule, figures and plan.

    Attributes:
        name: short name, used in level names, file names and ``--workloads``.
        script: the k6 script under ``k6/``.
        description: one line for ``--help`` and the report.
        params: its parameters.
        classes: the request classes its script records (``results.ClassResult``).
        expect: ``(facts, level) -> [Check]``, the rule, with sources in its module.
        figures: ``(result, load, level, facts) -> {figure: value}``, its result fields; must
            include ``throughput_rps``, ``latency_p50_ms``, ``latency_p95_ms``,
            ``little_inflight``, ``server_peak`` and ``failures`` for the common table.
        plan: ``(PlanRequest) -> [Level]``, the levels ``make bench`` runs by default.
        columns: extra result fields shown in tables.
        phases: how many DURATION_S phases one level lasts (``mixed`` runs two).
        isolated: the level's figures depend on CPU time, so while it runs the bench moves
            every other configuration off the measured container's cores
            (``LabSession.isolate``).
        containers: other services whose CPU the bench records over the steady window
            (the backend a workload calls, to show it was not the bottleneck).
        backend: ``(probe) -> dict``, facts read from the backend before each level, over
            HTTP through the front end (its agent: ``wsgilab.lab.probe.Probe.agent``),
            passed to ``expect`` as ``Facts.backend``.
        observer: ``(probe, seconds) -> Observer``, started just before k6 and read after
            it: a count the backend itself keeps (``Observer.figures``), asked over HTTP
            through the front end (``Probe.backend``, ``Probe.agent``).
        restart_after: ``(level) -> bool``: the level leaves state in its configuration's
            processes that would change the next level (a connection pool holding the
            database's connections); the bench restarts the container after it.
        service_param: the parameter that holds a request's own service time in
            milliseconds (``io_ms``): what an objective's default bound and an open load's
            VUs are sized from, and the S of c / S.
        order: position in listings (lower first).
    """

    name: str
    script: str
    description: str
    params: tuple[Param, ...]
    classes: tuple[str, ...]
    expect: Callable[[Facts, Level], list[Check]]
    figures: Callable[[LevelResult, dict | None, Level, Facts], dict]
    plan: Callable[[PlanRequest], list[Level]]
    columns: tuple[Column, ...] = ()
    phases: int = 1
    isolated: bool = False
    containers: tuple[str, ...] = ()
    backend: Callable[[object], dict] | None = None
    observer: Callable[[object, float], Observer] | None = None
    restart_after: Callable[[Level], bool] | None = None
    service_param: str = ""
    order: int = 50

    def param(self, name: str) -> Param:
        """The parameter ``name``. Raises KeyError if the workload has none."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"workload {self.name} has no parameter {name!r}")

    def level(self, configuration: str, load: Load, params: dict | None = None,
              variant: Variant | None = None) -> Level:
        """A level of this workload, every parameter set: from ``params`` (which may hold
        other workloads' parameters too; each takes its own), else its default."""
        given = dict(params or {})
        values = {p.name: given.get(p.name, p.default) for p in self.params}
        return Level(configuration, self.name, load, tuple(sorted(values.items())),
                     variant or Variant(),
                     name_params=frozenset(p.name for p in self.params if p.in_name))

    def service_ms(self, params: dict | None = None) -> float:
        """A request's own service time in milliseconds, from ``params`` (or a level's
        parameters), else the parameter's default.

        Raises:
            KeyError: the workload declares no ``service_param``.
        """
        given = dict(params or {})
        return float(given.get(self.service_param, self.param(self.service_param).default))

    def user_loads(self, request: PlanRequest, defaults: tuple[Load, ...]) -> list[Load]:
        """The loads the user asked for (``PlanRequest.loads``), else ``defaults``."""
        return request.loads(self.service_ms(request.params)) or list(defaults)

    def level_figures(self, result: LevelResult, usage: dict | None, level: Level,
                      facts: Facts) -> dict:
        """The workload's figures for ``level``, and for an open level the figures it is
        judged on (``theory.open_figures``), from its measured arrivals."""
        values = self.figures(result, usage, level, facts)
        if not level.closed and "served_fraction" not in values:
            window_s = next(iter(result.classes.values())).window_s
            values.update(open_figures(values, facts.capacity, level.load.rate_rps,
                                       self.service_ms(dict(level.params)), window_s,
                                       (usage or {}).get("arrivals_sent")))
        return values

    def k6_env(self, level: Level) -> dict[str, str]:
        """The script's parameters for ``level``, as k6 environment variables."""
        values = dict(level.params)
        return {p.env: str(absolute(values[p.name]) if p.path and values[p.name] else values[p.name])
                for p in self.params}


class ObserverError(RuntimeError):
    """A backend could not be read (its facts before a level, or its count after)."""


class Observer:
    """A count the backend keeps itself during a level (a third observer beside the
    client's Little's law and the app's X-Inflight). ``start()`` before the load,
    ``figures()`` after it: ``{figure: value}``, merged into the level's ``load``."""

    def start(self) -> None:
        raise NotImplementedError

    def figures(self) -> dict:
        raise NotImplementedError


def common_figures(result: LevelResult, classes: tuple[str, ...], latency_of: str) -> dict:
    """The figures every workload shows, over ``classes`` (which share one window).

    Returns:
        ``throughput_rps`` (sum), ``little_inflight`` (sum of the classes' L), the latency
        percentiles of class ``latency_of``, ``app_time_ms`` of it, ``server_peak``,
        ``requests``, ``failures`` and ``dropped_iterations``.
    """
    chosen = [result.classes[c] for c in classes]
    lat = result.classes[latency_of]
    return {
        "throughput_rps": sum(c.throughput_rps for c in chosen),
        "little_inflight": sum(c.little_inflight for c in chosen),
        "latency_p50_ms": lat.latency_p50_ms,
        "latency_p95_ms": lat.latency_p95_ms,
        "latency_p99_ms": lat.latency_p99_ms,
        "app_time_ms": lat.app_time_ms,
        "server_peak": result.server_peak,
        "requests": result.requests,
        "failures": result.failures,
        "dropped_iterations": result.dropped_iterations,
    }

