"""Workload ``io``: every request waits on I/O (``GET /io?ms=``), the seeds' case.

Expectation (``theory.concurrency_checks``): the server-side peak is min(VUs, cap), exactly
when the cap binds; Little's L (the average number in the app, X x W in the long run) lies
between what the server sustains and the peak; every request answers 200.
"""

from __future__ import annotations

from wsgilab.model.facts import Facts
from wsgilab.model.levels import Level, Variant
from wsgilab.model.load import Closed
from wsgilab.model.results import LevelResult
from wsgilab.model.theory import Check, concurrency_checks, open_checks
from wsgilab.workloads.base import Param, PlanRequest, Workload, common_figures

#: Forty VUs exceed every bounded cap (1 to 16) and show the unbounded ones far beyond
#: them. `make bench-io` runs the whole curve (CURVE_LOADS); the default leaves out the
#: lower levels to keep `make bench` inside its 8 minutes: two VUs fit every cap but the
#: one-at-a-time server's (the seeds' two-tab test checks two at once on every
#: configuration), and every cap that binds at 10 binds at 40 too.
DEFAULT_LOADS = (Closed(40),)
CURVE_LOADS = (Closed(2), Closed(10), Closed(40))

#: Beside every configuration as declared: one gevent worker alone, whose count in flight
#: answers whether one async worker holds dozens of requests (seed 001).
EXTRA_CASES = (("gevent-workers", Variant(knobs=(("workers", "1"),))),)

IO_MS = Param("io_ms", "IO_MS", 250, low=0, high=2000, unit="milliseconds",
              help="milliseconds each request waits on I/O (time.sleep in the app; 0: a "
                   "near-zero-work request, the server-overhead measurement)")


def expect(facts: Facts, level: Level) -> list[Check]:
    if not level.closed:
        return open_checks(facts.capacity, level.load.rate_rps, level.param("io_ms"))
    return concurrency_checks(facts.capacity, level.vus)


def figures(result: LevelResult, usage: dict | None, level: Level, facts: Facts) -> dict:
    return common_figures(result, ("io",), "io")


def plan(request: PlanRequest) -> list[Level]:
    """Every selected configuration at 40 VUs (or the VUs given), and EXTRA_CASES."""
    cases = [(s, Variant()) for s in request.services]
    cases += [(request.selected(role), v) for role, v in EXTRA_CASES if request.selected(role)]
    return [WORKLOAD.level(service, load, request.params, variant)
            for service, variant in cases for load in WORKLOAD.user_loads(request, DEFAULT_LOADS)]


WORKLOAD = Workload(
    name="io",
    script="io.js",
    description="I/O-bound: each request waits io_ms on I/O (GET /io)",
    params=(IO_MS,),
    classes=("io",),
    expect=expect,
    figures=figures,
    plan=plan,
    service_param="io_ms",
    order=10,
)
