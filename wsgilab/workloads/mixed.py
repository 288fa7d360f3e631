"""Workload ``mixed``: I/O-bound requests alone, then beside a few CPU-bound ones.

One level runs two phases of ``DURATION_S`` (``k6/mixed.js``): ``io_vus`` VUs request
``/io`` throughout; in the second phase ``cpu_vus`` more request ``/cpu``. The figure that
matters is how much the I/O requests' p95 grows when CPU requests run beside them,
``io_p95_added_ms`` = p95(io beside CPU) - p95(io alone), measured in the same level.

Expectation (rules, with their sources):

- **Event loop** (gevent, eventlet: ``Capacity.event_loop``): greenlets share their
  worker's hub, and pure-Python CPU work never yields to it (gevent docs, "Cooperative
  multitasking": a greenlet runs until it yields), so an I/O request of a worker that is
  running a CPU request waits for the rest of it, up to ``cpu_ms``. Where CPU requests
  keep every worker busy (``cpu_vus >= workers``), that wait is spread evenly over
  0..cpu_ms and its p95 is 0.95 x cpu_ms: the added p95 must reach
  ``LOOP_MIN_FRACTION`` x cpu_ms.
- **Threads and processes** (sync, gthread, the threaded dev server), when the load fits
  the cap (VUs <= cap, so nothing queues): an I/O request never waits for a whole CPU
  request. A thread waits for the GIL each time it wants it back (after accept, read, the
  sleep, write), at most ``sys.getswitchinterval()`` (5 ms; Python docs) each time while
  a CPU-bound thread holds it; a process waits for the core, which the kernel's CFS gives
  a waking task within its wakeup granularity (a few ms). The added p95 must stay below
  ``GIL_HANDOFFS`` x 5 ms, whatever ``cpu_ms``.
- and, as for every closed-model level: the peak in flight and no failed request.
"""

from __future__ import annotations

from wsgilab.model.facts import Facts
from wsgilab.model.levels import Level, Variant
from wsgilab.model.load import Closed
from wsgilab.model.results import LevelResult
from wsgilab.model.theory import Check, concurrency_checks, open_checks
from wsgilab.workloads.base import Column, Param, PlanRequest, Workload, common_figures

#: The added p95 under an event loop, as a fraction of cpu_ms, that the level must reach
#: when CPU requests keep every worker busy. The wait is uniform over 0..cpu_ms (p95 =
#: 0.95 x cpu_ms); half of it leaves room for the CPU VU's own gaps between requests
#: (the round trip through nginx and k6, during which the hub runs the I/O requests).
LOOP_MIN_FRACTION = 0.5
#: GIL hand-overs an I/O request may wait for beside CPU-bound threads: the worker's
#: poller thread for accept and read, the request's thread to start, after its sleep and
#: to write; twice that for the order in which waiting threads are woken. Measured: gthread
#: 1 x 8 added 15 and 22 ms to the p95 beside one CPU-bound thread.
GIL_HANDOFFS = 8
#: CPython's default GIL switch interval, ms (``sys.getswitchinterval()``).
SWITCH_INTERVAL_MS = 5.0

IO_MS = Param("io_ms", "IO_MS", 100, low=1, high=2000, unit="milliseconds",
              help="milliseconds each I/O-bound request waits")
#: 200 ms of CPU: long enough that a blocked event loop (at least half of it, 100 ms) and
#: GIL hand-overs (at most 40 ms) cannot be mistaken for one another.
CPU_MS = Param("cpu_ms", "CPU_MS", 200, low=1, high=2000, unit="milliseconds",
               help="milliseconds of CPU each CPU-bound request burns")
CPU_VUS = Param("cpu_vus", "CPU_VUS", 1, low=1, high=1000, unit="VUs",
                help="how many of the level's VUs send CPU-bound requests (the rest I/O)")

#: Four VUs fit every configuration measured here (4 sync workers, 8 gthread threads,
#: greenlets), so that any growth of the I/O requests' p95 is the CPU requests' doing,
#: not a queue's.
DEFAULT_LOADS = (Closed(4),)
#: The configurations of the README's point 4: gevent at one and four workers; sync and
#: gthread for comparison.
DEFAULT_CASES = (
    ("gevent-workers", Variant(knobs=(("workers", "1"),))),
    ("gevent-workers", Variant()),
    ("sync-workers", Variant()),
    ("gthread-one-process", Variant()),
)


def expect(facts: Facts, level: Level) -> list[Check]:
    cap = facts.capacity
    cpu_ms, cpu_vus = level.param("cpu_ms"), level.param("cpu_vus")
    if not level.closed:  # an open mix: what holds whatever the mix, nothing on its latency
        return [c for c in open_checks(cap, level.load.rate_rps, level.param("io_ms"))
                if c.name in ("failures", "dropped")]
    checks = [c for c in concurrency_checks(cap, level.vus) if c.name != "little"]
    if cap.event_loop and cpu_vus >= cap.parallelism:
        checks.append(Check(
            "io_blocked", "io_p95_added_ms", LOOP_MIN_FRACTION * cpu_ms, None,
            f"{cpu_vus} CPU VUs hold all {cap.parallelism} event loop(s): I/O requests wait "
            f"for the CPU request of their worker, up to {cpu_ms} ms (LOOP_MIN_FRACTION "
            f"{LOOP_MIN_FRACTION:.0%})"))
    elif not cap.event_loop and (cap.limit is None or level.vus <= cap.limit):
        checks.append(Check(
            "io_unblocked", "io_p95_added_ms", None, GIL_HANDOFFS * SWITCH_INTERVAL_MS,
            f"threads and processes share the CPU: at most GIL_HANDOFFS {GIL_HANDOFFS} x "
            f"{SWITCH_INTERVAL_MS:g} ms GIL switch interval; nothing queues at {level.vus} VUs "
            f"({cap.formula})"))
    return checks


def figures(result: LevelResult, usage: dict | None, level: Level, facts: Facts) -> dict:
    values = common_figures(result, ("io_beside", "cpu"), "io_beside")
    alone = result.classes["io_alone"].latency_p95_ms
    beside = result.classes["io_beside"].latency_p95_ms
    values.update(io_p95_alone_ms=alone, io_p95_beside_ms=beside,
                  io_p95_added_ms=beside - alone,
                  cpu_p95_ms=result.classes["cpu"].latency_p95_ms)
    return values


def plan(request: PlanRequest) -> list[Level]:
    """The README's point 4 (``DEFAULT_CASES``) at 4 VUs (or the VUs given)."""
    return [WORKLOAD.level(request.selected(role), load, request.params, variant)
            for role, variant in DEFAULT_CASES if request.selected(role)
            for load in WORKLOAD.user_loads(request, DEFAULT_LOADS)]


WORKLOAD = Workload(
    name="mixed",
    script="mixed.js",
    description="I/O-bound requests alone, then beside CPU-bound ones (two phases)",
    params=(IO_MS, CPU_MS, CPU_VUS),
    classes=("io_alone", "io_beside", "cpu"),
    expect=expect,
    figures=figures,
    plan=plan,
    columns=(Column("io_p95_alone_ms", "io p95 alone ms", "{:.0f}"),
             Column("io_p95_beside_ms", "io p95 beside CPU ms", "{:.0f}")),
    phases=2,
    isolated=True,
    service_param="io_ms",
    order=30,
)
