"""Capacity under a latency objective: the highest arrival rate a configuration serves
with its latency percentile under the objective, no error and no dropped request.

Per configuration and workload (``make capacity``: every configuration on ``io``):

1. **Server overhead** (``overhead_level``): the configuration's CPU time per request on a
   near-zero-work request (``/io?ms=0``) at ``OVERHEAD_RATE_RPS``, a rate the instrument
   sustains: the app container's CPU seconds over the requests served, a ratio that holds
   on a shared machine. From it, the most requests per second one CPU could serve with
   that server: the honest form of "which server is fastest", which tables of req/s
   measured at a fixed concurrency often answer for their load generator.
2. **The theoretical maximum**: for a configuration with a cap c and a service time S,
   throughput cannot exceed c / S (Little's law; 4 sync workers at 250 ms: 16 req/s), and
   with evenly spaced arrivals and a constant service time nothing queues below it. No
   configuration can exceed the CPUs it may use over its CPU time per request either;
   the lower of the two is the maximum, and names what limits it.
3. **The search** (``search``): geometric steps from ``START_FRACTION`` of the maximum,
   then bisection between the last rate that met the objective and the first that did
   not, at most ``MAX_STEPS`` levels, none above what the instrument measured it can drive
   (``loadside.calibrate``). A step passes when its percentile is under the objective,
   no request failed and none was dropped, and the load side was not full.

The measured capacity of every bounded configuration must sit within
``CAPACITY_TOLERANCE`` below its maximum (and ``CAPACITY_OVERSHOOT`` above it); where it
does not, the search says what limited it. With ``--repeat`` the search runs again, the
configurations in a shuffled order, and the capacity is given with its spread.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from wsgilab.model.objective import Objective
from wsgilab.model.theory import Capacity

#: The first step: most of the maximum, so that the answer is a step or two away.
START_FRACTION = 0.8
#: Each geometric step's rate over the last one's.
GROWTH = 1.15
#: Bisection stops once the gap between the last pass and the first fail is this fraction
#: of the pass, or fewer: a step's own noise (one completion in a 4 s window at 16 req/s
#: is 1.6%) makes a finer answer a guess.
RESOLUTION = 0.04
#: The most levels one search runs (its time budget: ``make capacity`` covers every
#: configuration in 15 minutes).
MAX_STEPS = 6
#: How far below its theoretical maximum a bounded configuration's capacity may sit: the
#: search's resolution (4%), the server's own time outside the app per request, and a
#: queue that, just below the bound, already lifts the tail past the objective in a short
#: window.
CAPACITY_TOLERANCE = 0.15
#: How far above it: a rate a little past the bound queues slowly, and over a 4 s window
#: its tail may still meet an objective of twice the service time.
CAPACITY_OVERSHOOT = 0.10
#: What a step's reason says when the load side, not the server, was full.
LOAD_SIDE_FULL = "the load side was full"
#: A step the host refused (its load cores were full: k6, nginx, or a backend the app
#: calls sharing them) tells nothing about the configuration; the next step is this much
#: lower. The load cores' busy share falls about in proportion to the rate, so from just
#: past ``loadside.LOAD_CORES_BUSY_MAX`` (0.85) a 30% lower rate lands near 0.6, clear
#: of it (records/advise-shop: 0.92 at 135 req/s, 0.70 at 117).
REFUSED_BACKOFF = 0.7
#: Steps a search may add to its ``max_steps`` to come down to where the host can tell
#: (a refused step costs a level but decides nothing): bounded, as every loop here.
MAX_REFUSED_EXTRA = 3
#: The server-overhead level's arrival rate: high enough that what a server spends when
#: idle (timers, heartbeats: about 0.01 CPU) adds little to each request's share (at 50
#: req/s gevent read 1.8 ms a request, and then served 676 req/s on one CPU), low enough
#: that the load side stays far from full. A server that cannot serve it (the forking dev
#: server forks per request) still gives its CPU per request served.
OVERHEAD_RATE_RPS = 200


@dataclass(frozen=True)
class Step:
    """One level of a search: the rate offered (req/s), whether it met the objective, and
    why not.

    Attributes:
        rate_rps: the arrival rate asked for; offered_rps: what k6 sent in the window.
        passed: objective met, no failure, none dropped, the load side not full.
        why: the reason it did not pass ("" when it did).
        refused: the host was full (``LOAD_SIDE_FULL``): the step says nothing about the
            configuration, neither a pass nor its failure.
        latency_ms: the objective's percentile, measured; throughput_rps: served.
        slug: the level's file stem in the run's directory.
    """

    rate_rps: float
    passed: bool
    why: str = ""
    offered_rps: float | None = None
    latency_ms: float | None = None
    throughput_rps: float | None = None
    slug: str = ""
    refused: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Search:
    """One configuration's capacity search.

    Attributes:
        configuration, workload: what was searched.
        objective: the objective, its bound resolved for this workload (ms).
        service_ms: the request's own service time (S).
        maximum_rps: the theoretical maximum (req/s), None when unknown; limited_by: what
            sets it ("the cap", "the CPU"), with the formula in ``maximum_rule``.
        ceiling_rps: the highest rate the instrument could offer (the calibration).
        floor_rps: where the configuration's settings guarantee less than its cap (a
            ``Capacity.sustained``), that floor over the service time; ``floor_rule`` why.
        steps: the levels, in the order run.
        repeat: which repeat of the search this is.
    """

    configuration: str
    workload: str
    objective: Objective
    service_ms: float
    maximum_rps: float | None
    limited_by: str
    maximum_rule: str
    ceiling_rps: float | None
    steps: list[Step] = field(default_factory=list)
    repeat: int = 1
    floor_rps: float | None = None
    floor_rule: str = ""

    @property
    def capacity_rps(self) -> float | None:
        """What was served at the highest rate that passed (req/s), or None when none did.
        Never the rate asked for: a step just past a bound may still meet the objective
        over a short window while serving only the bound. Records made before steps kept
        what was served (2026-12-06) give the rate."""
        passed = [s for s in self.steps if s.passed]
        if not passed:
            return None
        best = max(passed, key=lambda s: s.rate_rps)
        return best.throughput_rps if best.throughput_rps is not None else best.rate_rps

    @property
    def passed_rps(self) -> float | None:
        """The highest rate asked for that passed (req/s), or None."""
        passed = [s.rate_rps for s in self.steps if s.passed]
        return max(passed) if passed else None

    @property
    def first_fail_rps(self) -> float | None:
        """The lowest rate above the capacity that did not pass (a refused step did not
        fail: the host could not tell)."""
        cap = self.passed_rps or 0.0
        failed = [s.rate_rps for s in self.steps if not s.passed and not s.refused
                  and s.rate_rps > cap]
        return min(failed) if failed else None

    @property
    def refused_only(self) -> bool:
        """Every step was refused: the host was full at every rate tried, and the
        configuration was not measured at all."""
        return bool(self.steps) and all(s.refused for s in self.steps)

    @property
    def instrument_bound(self) -> bool:
        """The load side or the host, not the configuration, ended the search: it stopped
        at what the load side drives, still passing, or the first step above the capacity
        was refused because the host was full. The capacity is then at least the figure,
        not the figure."""
        if not self.capacity_rps:
            return self.refused_only
        if (self.ceiling_rps and self.passed_rps >= self.ceiling_rps * (1 - RESOLUTION)
                and self.first_fail_rps is None):
            return True
        above = [s for s in self.steps if not s.passed and s.rate_rps > self.passed_rps]
        return bool(above) and min(above, key=lambda s: s.rate_rps).refused

    @property
    def lower_bound(self) -> bool:
        """The capacity is at least the figure, not the figure: the load side or the host
        ended the search (``instrument_bound``), or its steps ran out before any missed
        the objective."""
        return bool(self.capacity_rps) and (self.instrument_bound or self.first_fail_rps is None)

    @property
    def ratio(self) -> float | None:
        """Capacity over the theoretical maximum."""
        if self.capacity_rps is None or not self.maximum_rps:
            return None
        return self.capacity_rps / self.maximum_rps

    def verdict(self) -> str:
        """``"within"``, ``"below"``, ``"above"`` the maximum's tolerances for a
        configuration its cap bounds; ``"CPU-limited"`` where the maximum is the CPU's (an
        estimate from the overhead level: reported, not judged); ``"instrument-bound"``; or
        ``"unbounded"`` (no maximum to compare with)."""
        if self.instrument_bound:
            return "instrument-bound"
        if self.ratio is None:
            return "unbounded"
        if self.limited_by != "the cap":
            return "CPU-limited"
        if self.ratio < 1 - CAPACITY_TOLERANCE:
            return "below"
        if self.ratio > 1 + CAPACITY_OVERSHOOT:
            return "above"
        return "within"

    def explain(self) -> str:
        """Why a bounded configuration's capacity sits outside its tolerances, as far as
        the lab knows; "" when it does not."""
        verdict = self.verdict()
        if verdict == "below" and self.floor_rps and self.capacity_rps >= self.floor_rps * (
                1 - CAPACITY_TOLERANCE):
            return (f"its settings guarantee only {self.floor_rps:.1f} req/s: {self.floor_rule}")
        if verdict == "below":
            return "below what its cap allows, with no rule of the lab's to say why"
        if verdict == "above":
            return "above what its cap allows: the service time or the cap is not what it reports"
        if verdict == "instrument-bound" and self.refused_only:
            low = min(s.rate_rps for s in self.steps)
            return (f"the host was full at every rate tried, down to {low:.1f} req/s: not "
                    "measured on this machine")
        if verdict == "instrument-bound":
            return "the load side was full first: the capacity is at least this"
        return ""

    def to_dict(self) -> dict:
        data = asdict(self)
        data["objective"] = self.objective.to_dict()
        data.update(capacity_rps=self.capacity_rps, passed_rps=self.passed_rps,
                    first_fail_rps=self.first_fail_rps, ratio=self.ratio,
                    lower_bound=self.lower_bound, verdict=self.verdict(),
                    explanation=self.explain())
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Search:
        data = {k: v for k, v in data.items()
                if k not in ("capacity_rps", "passed_rps", "first_fail_rps", "ratio", "verdict",
                             "explanation", "lower_bound")}
        data["steps"] = [Step(**s) for s in data.get("steps", [])]
        data["objective"] = Objective.from_dict(data.get("objective"))
        return cls(**data)


def maximum(cap: Capacity, service_ms: float, usable_cpus: float,
            cpu_ms_per_request: float | None) -> tuple[float | None, str, str]:
    """The theoretical maximum rate (req/s), what limits it, and the rule in numbers.

    Args:
        cap: the configuration's concurrency model; its sustained concurrency over the
            service time is one bound (Little's law).
        service_ms: the request's own service time (ms).
        usable_cpus: CPUs the container may use (its quota, or its cpuset).
        cpu_ms_per_request: the server overhead measured, CPU ms per request, or None.

    Returns:
        (maximum or None, "the cap" | "the CPU" | "", its formula).
    """
    bounds = []
    if cap.limit is not None and service_ms > 0:
        bounds.append((cap.limit / (service_ms / 1000.0), "the cap",
                       f"{cap.limit} / {service_ms:g} ms ({cap.formula})"))
    if cpu_ms_per_request:
        bounds.append((usable_cpus / (cpu_ms_per_request / 1000.0), "the CPU",
                       f"{usable_cpus:g} CPU / {cpu_ms_per_request:.2f} ms of CPU per request"))
    if not bounds:
        return None, "", "no cap, no CPU figure"
    value, what, rule = min(bounds)
    return value, what, rule


def search(measure: Callable[[float], Step], maximum_rps: float | None,
           ceiling_rps: float | None, start_rps: float | None = None,
           max_steps: int = MAX_STEPS, growth: float = GROWTH) -> list[Step]:
    """Find the highest rate that passes, in at most ``max_steps`` calls of ``measure``.

    Geometric steps (GROWTH) from ``START_FRACTION`` of ``maximum_rps`` (or from
    ``start_rps``) up to the first failure, never above ``ceiling_rps``; down the same way
    if the first step fails; then bisection until the gap is within RESOLUTION. A step the
    host refused (``Step.refused``) is no failure: above a pass it ends the climb, and the
    bisection looks between the pass and it (the host may tell there: records/advise-notes,
    2026-12-06, refused 432 req/s above a pass at 309 where a sweep measured 424.5); the
    capacity is a lower bound where the step above it was refused. With no pass yet the
    next step is REFUSED_BACKOFF lower. Refused steps get up to MAX_REFUSED_EXTRA levels
    beyond ``max_steps``.

    Args:
        measure: runs one level at a rate (req/s) and says whether it passed.
        maximum_rps: the theoretical maximum, or None.
        ceiling_rps: the most the instrument can offer, or None.
        start_rps: the first rate where there is no maximum (default: a fraction of the
            ceiling).
        max_steps, growth: the most levels, and each geometric step's factor (a user's
            app, whose maximum is a rougher estimate, takes wider steps).

    Raises:
        ValueError: nothing to start from (no maximum, ceiling or start).
    """
    top = ceiling_rps or math.inf
    if maximum_rps:
        rate = START_FRACTION * maximum_rps
    elif start_rps:
        rate = start_rps
    elif ceiling_rps:
        rate = START_FRACTION * ceiling_rps
    else:
        raise ValueError("a search needs a maximum, a ceiling or a first rate")
    rate = round(min(rate, top), 3)
    steps: list[Step] = []
    last_pass = first_fail = host_top = None

    def budget() -> int:
        return max_steps + min(MAX_REFUSED_EXTRA, sum(s.refused for s in steps))

    while len(steps) < budget():
        step = measure(rate)
        steps.append(step)
        if step.refused:
            if last_pass is not None:
                host_top = rate  # the host cannot tell here: look below it
                break
            rate = round(rate * REFUSED_BACKOFF, 3)
            continue
        if step.passed:
            last_pass = rate
            if first_fail is not None or rate >= top:
                break
            rate = round(min(rate * growth, top), 3)
        else:
            first_fail = rate
            if last_pass is not None:
                break
            rate = round(rate / growth, 3)
    while last_pass is not None and len(steps) < budget():
        upper = first_fail if first_fail is not None else host_top
        if upper is None or (upper - last_pass) / last_pass <= RESOLUTION:
            break
        rate = round((last_pass + upper) / 2, 3)
        step = measure(rate)
        steps.append(step)
        if step.refused:
            if first_fail is not None:
                break  # the host cannot tell between a pass and a failure
            host_top = rate
        elif step.passed:
            last_pass = rate
        else:
            first_fail = rate
    return steps


def spread(searches: list[Search]) -> tuple[float | None, float | None, float | None]:
    """(median, min, max) capacity over a configuration's repeated searches."""
    values = [s.capacity_rps for s in searches if s.capacity_rps is not None]
    if not values:
        return None, None, None
    return statistics.median(values), min(values), max(values)
