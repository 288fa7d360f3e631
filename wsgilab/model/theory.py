"""The lab's generic rules: what a configuration's model promises, and how a level is judged.

Each server family's adapter (``wsgilab.families.<family>``) turns the settings its running
server reports into a ``Capacity``; each workload (``wsgilab.workloads.<name>``) turns a
``Capacity`` and a level into ``Check`` objects, using the rules below. Every tolerance is
a named constant with its reason.

Rules and their sources:

- **Concurrency cap.** A closed-model load of N virtual users keeps at most min(N, cap)
  requests in flight (each VU has one request outstanding). When N > cap the server-side
  peak must equal the cap exactly; the cap comes from the adapter.
- **Little's law** (Little, "A Proof for the Queuing Formula L = λW", Operations Research
  9(3), 1961): the average number of requests in the app is L = X x W, throughput times
  mean time in the app. It must lie near what the server sustains. L is measured
  directly, as each response's time in the app that fell inside the steady window summed
  over the window's length (k6/lib/lab.js), which X x W equals in the long run but not
  over a window a few requests long (``results.ClassResult.little_inflight``).
- **CPU-bound throughput** (the utilisation law, U = X x D, with U bounded by the CPUs the
  requests can use; Lazowska et al., "Quantitative System Performance", 1984, ch. 3.2):
  X <= min(parallelism, CPU quota, cores in the cpuset) / cpu_time per request, where
  parallelism is the number of processes that can run Python at once (one per process for
  threads and greenlets: the GIL; Python docs, "Global Interpreter Lock").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

#: The issue's rule for client-bound runs: when the server has room for every VU, its peak
#: must reach at least this fraction of the VUs. Below 1 because a closed-model VU spends a
#: little of each cycle outside the server (in k6, on the wire, in nginx), so not every VU
#: need be inside the app at the same instant.
CLIENT_BOUND_MIN_FRACTION = 0.90

#: Tolerance of the Little's-law check on a server-bound run: L, the average number in the
#: app, may fall short of the sustained concurrency by this fraction. A saturated worker
#: also spends time on each request outside the app (accept, HTTP parsing, writing the
#: response; a fork per request for the dev server with processes=N), which at a 250 ms
#: request is a few per cent. (Runs before 2026-11-24 estimated L as X x W, whose
#: completions counted whole in a finite window added up to 1/completions more.)
LITTLE_LAW_TOLERANCE = 0.10

#: The same tolerance for Werkzeug's forking dev server (``processes=N``): each request
#: also pays a fork and the child's copy-on-write page faults before it enters the app
#: (Python's reference counting writes to most pages it touches), and the parent forks
#: one child at a time. Measured at 250 ms requests: 2.73 to 2.91 of 3 sustained (3-9%).
FORKING_LITTLE_LAW_TOLERANCE = 0.15

#: How far below the CPU bound a saturated CPU-bound level may fall. Each request also
#: spends CPU outside its measured burn (WSGI, Flask routing, the in-flight counter's file
#: lock, writing the response: 1-3 ms at the lab's 50 ms requests) and the server's own
#: processes (gunicorn's arbiter, uWSGI's master) count against the same quota (gunicorn
#: #3150). What other processes ran on the container's cores (k6, nginx, the engine, the
#: hypervisor's steal) is measured and taken out of the bound (``cpu_parallelism``).
CPU_BOUND_TOLERANCE = 0.20

#: How far above the CPU bound a level may go before the bound is called broken: the
#: burn overshoots its target by well under 1%, and a window holds a whole number of
#: completions (one more at 20 req/s in 4 s is +1.25%).
CPU_BOUND_OVERSHOOT = 0.05


@dataclass(frozen=True)
class Capacity:
    """A configuration's concurrency model, from the settings its server reports.

    Attributes:
        limit: the most requests in flight, or None when nothing in the server caps it
            (only the container's pids limit, which the lab sizes above the bench's load).
        formula: how the cap follows from the settings, e.g. ``"workers x threads = 2 x 4"``.
        sustained: requests the server keeps in the app under saturating load whatever
            the kernel's choice of worker; None means the same as ``limit``.
        sustained_rule: why ``sustained`` is below ``limit``, with its source.
        parallelism: request slots that can run Python at the same time: workers for
            sync, gthread, gevent (one GIL each), the dev server's forks; 1 for one process
            of threads; every thread where the GIL is off (``without_gil``). The CPU-bound
            rule's numerator.
        processes: server processes in the container (master included), for memory sizing.
        event_loop: True when a CPU-bound request stops every other request of its worker
            (greenlets on one hub: gevent, eventlet); threads only share the GIL, which
            CPython hands over every ``sys.getswitchinterval()`` (5 ms).
        forks_per_request: True when the server forks a process for every request
            (Werkzeug's ``processes=N``).
    """

    limit: int | None
    formula: str
    sustained: int | None = None
    sustained_rule: str = ""
    parallelism: int = 1
    processes: int = 1
    event_loop: bool = False
    forks_per_request: bool = False

    @property
    def floor(self) -> int | None:
        """The sustained concurrency: ``sustained`` if set, else ``limit``."""
        return self.limit if self.sustained is None else self.sustained

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Capacity:
        return cls(**data)


class UnknownServer(ValueError):
    """Settings or a command of a server family that has no adapter."""


@dataclass(frozen=True)
class Check:
    """One expectation on one measured figure of a level.

    Attributes:
        name: short stable id, used in test ids (``peak``, ``little``, ``cpu_bound``).
        figure: the workload's name for the measured value (``server_peak``); see
            ``Workload.figures``.
        low, high: the range that passes (inclusive); None for an open end.
        rule: how the range follows from the configuration, in words and numbers.
    """

    name: str
    figure: str
    low: float | None
    high: float | None
    rule: str

    def expected(self) -> str:
        """The passing range in words: ``exactly 4``, ``3.60..8.80``, ``at least 36``."""
        if self.low is not None and self.low == self.high:
            return f"exactly {_num(self.low)}"
        if self.high is None:
            return f"at least {_num(self.low)}"
        if self.low is None:
            return f"at most {_num(self.high)}"
        return f"{_num(self.low)}..{_num(self.high)}"

    def problem(self, measured: float | None) -> str | None:
        """None if ``measured`` passes, else a sentence with expected vs measured."""
        if measured is None or (isinstance(measured, float) and math.isnan(measured)):
            return f"{self.name}: {self.figure} was not measured (expected {self.expected()})"
        if (self.low is not None and measured < self.low) or (
                self.high is not None and measured > self.high):
            return (f"{self.name}: {self.figure} expected {self.expected()}, measured "
                    f"{_num(measured)} ({self.rule})")
        return None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Check:
        return cls(**data)


def _num(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


@dataclass(frozen=True)
class Expectation:
    """What a closed-model level should show for concurrency.

    Attributes:
        inflight: requests in flight expected at the peak: min(VUs, cap).
        server_bound: True when the cap, not the VUs, sets the peak (VUs > cap). Then the
            peak must equal the cap exactly; otherwise it must reach
            CLIENT_BOUND_MIN_FRACTION of the VUs.
        sustained: the least average concurrency the server is sure to keep up:
            min(VUs, Capacity.floor). The Little's-law check's lower bound starts here.
        tolerance: how far below ``sustained`` a server-bound level may fall
            (LITTLE_LAW_TOLERANCE, or FORKING_LITTLE_LAW_TOLERANCE for a forking server).
    """

    inflight: int
    server_bound: bool
    sustained: int
    tolerance: float = LITTLE_LAW_TOLERANCE

    @property
    def min_peak(self) -> int:
        """The lowest server-side peak that passes (whole requests)."""
        if self.server_bound:
            return self.inflight
        return math.ceil(CLIENT_BOUND_MIN_FRACTION * self.inflight)

    @property
    def min_little(self) -> float:
        """The lowest Little's-law concurrency (L, the average number in the app) that passes."""
        if self.server_bound:
            return self.sustained * (1 - self.tolerance)
        return CLIENT_BOUND_MIN_FRACTION * self.sustained

    @property
    def max_little(self) -> float:
        """The highest Little's-law concurrency that passes (a count cannot beat its cap)."""
        return self.inflight * (1 + LITTLE_LAW_TOLERANCE)


def expect(cap: Capacity, vus: int) -> Expectation:
    """The concurrency expectation for ``vus`` closed-model virtual users against ``cap``.

    Raises:
        ValueError: ``vus`` < 1.
    """
    if vus < 1:
        raise ValueError(f"vus must be at least 1, got {vus}")
    sustained = vus if cap.floor is None else min(vus, cap.floor)
    tolerance = FORKING_LITTLE_LAW_TOLERANCE if cap.forks_per_request else LITTLE_LAW_TOLERANCE
    if cap.limit is not None and vus > cap.limit:
        return Expectation(cap.limit, server_bound=True, sustained=sustained, tolerance=tolerance)
    return Expectation(vus, server_bound=False, sustained=sustained, tolerance=tolerance)


def concurrency_checks(cap: Capacity, vus: int) -> list[Check]:
    """The checks every closed-model level gets: peak in flight, Little's law, no failure.

    Figures read: ``server_peak``, ``little_inflight``, ``failures``.
    """
    exp = expect(cap, vus)
    if exp.server_bound:
        peak_rule = f"the cap binds: {cap.formula}"
    else:
        peak_rule = (f"room for all {vus} VUs ({cap.formula}); at least "
                     f"{CLIENT_BOUND_MIN_FRACTION:.0%} of them (CLIENT_BOUND_MIN_FRACTION)")
    sustained_rule = f"sustained {exp.sustained}"
    if cap.sustained_rule and exp.sustained < exp.inflight:
        sustained_rule += f": {cap.sustained_rule}"
    tolerance_name = ("FORKING_LITTLE_LAW_TOLERANCE" if cap.forks_per_request
                      else "LITTLE_LAW_TOLERANCE")
    tolerance = (f"{tolerance_name} {exp.tolerance:.0%}" if exp.server_bound
                 else f"CLIENT_BOUND_MIN_FRACTION {CLIENT_BOUND_MIN_FRACTION:.0%}")
    return [
        Check("peak", "server_peak", exp.min_peak, exp.inflight, peak_rule),
        Check("little", "little_inflight", exp.min_little, exp.max_little,
              f"L = X x W between {sustained_rule} and the peak {exp.inflight}, {tolerance}"),
        Check("failures", "failures", 0, 0, "every request answers 200"),
    ]


#: Threads of one free-threaded process that may run Python at once when nothing in the
#: server caps them (the threaded dev server's thread per connection): more than any
#: cpuset here, so that the quota and the cpuset bound it, as they bound processes.
FREE_THREADED_UNBOUNDED = 1024


def without_gil(cap: Capacity) -> Capacity:
    """``cap`` for processes whose GIL is off (a free-threaded build, PEP 703, with
    ``sys._is_gil_enabled()`` false in every worker): each request slot that is a thread
    can run Python at the same time as the others, so parallelism is the cap (or
    ``FREE_THREADED_UNBOUNDED`` without one). Greenlets (``event_loop``) stay one thread per
    worker: unchanged."""
    if cap.event_loop:
        return cap
    return replace(cap, parallelism=cap.limit if cap.limit is not None else FREE_THREADED_UNBOUNDED)


def cpu_parallelism(cap: Capacity, quota_cpus: float | None, cpuset_cpus: int,
                    others_cpus: float | None = None) -> tuple[float, str]:
    """How many CPUs CPU-bound requests can keep busy: min(parallelism, quota, cpuset less
    what other processes ran on its cores).

    Args:
        quota_cpus: the container's CFS quota in CPUs, None when there is none.
        cpuset_cpus: cores the container may run on.
        others_cpus: CPUs that other processes kept busy on those cores over the level
            (measured: ``bench.WindowSampler``), None when not measured (in the formula:
            "less others'", its value unknown until the level ran).

    Returns:
        (CPUs, the formula with its numbers).
    """
    terms = {"parallelism": float(cap.parallelism),
             "cpuset": float(cpuset_cpus) - (others_cpus or 0.0)}
    if quota_cpus:
        terms["quota"] = quota_cpus
    usable = min(terms.values())
    shown = {name: _num(value) for name, value in terms.items()}
    shown["cpuset"] = f"{cpuset_cpus} less others'"
    if others_cpus is not None:
        shown["cpuset"] += f" {others_cpus:.2f}"
    formula = "min(" + ", ".join(f"{name} {text}" for name, text in shown.items()) + ")"
    if others_cpus is not None:
        formula += f" = {_num(usable)}"
    return usable, formula


def cpu_throughput_check(cap: Capacity, vus: int, cpu_ms: float, quota_cpus: float | None,
                         cpuset_cpus: int) -> Check:
    """The CPU-bound throughput check: X within the bound min(VUs, CPUs usable) / cpu_time.

    Figure read: ``cpu_bound_fraction``, X over that bound, which the workload computes
    with the CPU other processes used on the container's cores during the level
    (``cpu_parallelism``; a 2-core cpuset shares core 0 with k6, nginx and the engine:
    measured 0.1-0.4 CPUs). With fewer VUs than usable CPUs the VUs bound it.

    A server that forks a process per request (Werkzeug's ``processes=N``) pays CPU for
    the fork beyond the request's own: a fork of the whole process and the child's
    copy-on-write faults (Python's reference counting writes to most pages it touches),
    which grows with the app (measured: 5 ms of extra CPU per request with the lab's app
    alone, 12-15 ms once it imported its database drivers). Its check is then on what it
    does with the CPU it has: the figure ``cpu_utilisation`` (CPUs used / CPUs usable) at
    least 1 - CPU_BOUND_TOLERANCE, the fork's cost reported beside it (``overhead_cpu_ms``).

    Args:
        cpu_ms: CPU time each request burns, in milliseconds (> 0).
    """
    _, formula = cpu_parallelism(cap, quota_cpus, cpuset_cpus)
    if cap.forks_per_request:
        return Check("cpu_busy", "cpu_utilisation", 1 - CPU_BOUND_TOLERANCE,
                     1 + CPU_BOUND_OVERSHOOT,
                     f"a fork per request: it keeps {formula} CPUs busy, each request "
                     f"costing its {cpu_ms:g} ms plus the fork; CPU_BOUND_TOLERANCE "
                     f"{CPU_BOUND_TOLERANCE:.0%}")
    rule = (f"X / bound, bound = min(VUs {vus}, {formula}) / {cpu_ms:g} ms; "
            f"CPU_BOUND_TOLERANCE {CPU_BOUND_TOLERANCE:.0%}")
    return Check("cpu_bound", "cpu_bound_fraction", 1 - CPU_BOUND_TOLERANCE,
                 1 + CPU_BOUND_OVERSHOOT, rule)


#: How far below its expected count a backend's own sampled peak may fall. PostgreSQL is
#: sampled every 100 ms (pg_stat_activity), and a request spends a few ms of its cycle
#: connecting before its query starts: a sample may catch one or two requests between
#: queries, and the level's highest sample may miss the instant all were in.
OBSERVER_SAMPLING_TOLERANCE = 0.10


#: How a backend call behaves under an event loop (``real_io_checks``).
COOPERATIVE = "cooperative"
#: It blocks the loop from its first step (its DNS lookup and waits are C code).
BLOCKS = "blocks"
#: It yields in a first step (a DNS lookup through the patched socket module), then blocks
#: the loop while it waits: more requests enter the app than can reach the backend.
BLOCKS_AFTER_YIELDING = "blocks after yielding"


def real_io_checks(cap: Capacity, vus: int, behaviour: str, why: str,
                   backend_figure: str, backend_limit: int | None = None,
                   backend_rule: str = "", refuses_above: int | None = None) -> list[Check]:
    """The checks of a level whose requests wait on a real backend (database, HTTP).

    Rules:

    - a call that blocks an event loop (C code its monkey-patching cannot reach) holds its
      worker's hub while it waits: one waiting request per worker reaches the backend,
      whatever the VUs (gunicorn#2084, #1955: "one coroutine can block all others"). If it
      blocks from its first step, the app holds the same one per worker; if it yields
      first (``BLOCKS_AFTER_YIELDING``), more requests enter the app, up to its cap, and
      wait there;
    - otherwise the server's own cap holds, as for ``io``;
    - the backend's own count (``backend_figure``) is the least of what reaches it and
      the backend's limit (``backend_limit``: usable connections, a pool), within
      OBSERVER_SAMPLING_TOLERANCE below;
    - where more requests reach the backend at once than it accepts (``refuses_above``),
      the excess is refused: some requests fail, every failure is a clean 503 (figures
      ``failures`` and ``failures_not_503``), and Little's law sustains the backend's
      limit; otherwise no request fails.

    Args:
        behaviour: COOPERATIVE, BLOCKS or BLOCKS_AFTER_YIELDING under the configuration's
            event loop (ignored without one).
        why: the source of ``behaviour``, for the checks' rules.
    """
    blocking = cap.event_loop and behaviour != COOPERATIVE
    if blocking:
        per_worker = Capacity(cap.parallelism, f"one waiting request per worker = "
                              f"{cap.parallelism} ({why})", parallelism=cap.parallelism,
                              processes=cap.processes, event_loop=True)
    if blocking and behaviour == BLOCKS:
        cap = per_worker
    exp = expect(cap, vus)
    if blocking and behaviour == BLOCKS_AFTER_YIELDING:
        low = min(vus, per_worker.limit)
        checks = [
            Check("peak", "server_peak", low, exp.inflight,
                  f"at least one per worker, up to {cap.formula}: requests enter the app, "
                  f"yield, then wait behind the blocked hub ({why})"),
            Check("little", "little_inflight", low * (1 - LITTLE_LAW_TOLERANCE),
                  exp.inflight * (1 + LITTLE_LAW_TOLERANCE),
                  f"between one per worker and the cap, LITTLE_LAW_TOLERANCE "
                  f"{LITTLE_LAW_TOLERANCE:.0%}")]
        reach = low
    else:
        checks = [c for c in concurrency_checks(cap, vus) if c.name != "failures"]
        reach = exp.inflight
    expected_backend, rule = reach, f"every request that reaches it waits on it ({cap.formula})"
    if backend_limit is not None and backend_limit < reach:
        expected_backend, rule = backend_limit, backend_rule
    checks.append(Check(
        "backend_peak", backend_figure,
        math.floor(expected_backend * (1 - OBSERVER_SAMPLING_TOLERANCE)), expected_backend,
        f"{rule}; OBSERVER_SAMPLING_TOLERANCE {OBSERVER_SAMPLING_TOLERANCE:.0%}"))
    if refuses_above is not None and reach > refuses_above:
        # A refused VU waits one request's length before it asks again (k6/db.js), so not
        # every VU is in flight at once: the app holds between what the backend serves
        # and all of them.
        checks = [c for c in checks if c.name not in ("little", "peak")] + [
            Check("peak", "server_peak", refuses_above, reach,
                  f"between the {refuses_above} the backend serves and the {reach} VUs: refused "
                  f"VUs back off for a request's length"),
            # A slot also stands free while a closed connection's backend exits: measured
            # 15.5-16.8 sustained of 16 in the runs of 2026-11-23, within LITTLE_LAW_TOLERANCE.
            Check("little", "little_inflight", refuses_above * (1 - LITTLE_LAW_TOLERANCE),
                  refuses_above * (1 + LITTLE_LAW_TOLERANCE),
                  f"the backend serves {refuses_above} at once; the rest are refused; "
                  f"LITTLE_LAW_TOLERANCE {LITTLE_LAW_TOLERANCE:.0%}"),
            Check("refused", "failures", 1, None,
                  f"{reach} requests reach a backend that accepts {refuses_above}"),
            Check("refused_cleanly", "failures_not_503", 0, 0,
                  "every refusal is a 503 with a JSON message, never a 500 or a hang")]
    else:
        checks.append(Check("failures", "failures", 0, 0, "every request answers 200"))
    return checks


#: How far an open level's throughput may fall below what it can serve (the offered rate,
#: or the configuration's bound past it): requests arriving at the window's edges and
#: completions counted whole in it (one in a 4 s window at 16 req/s is 1.6%), and the
#: server's own time outside the app per request past its bound.
OPEN_THROUGHPUT_TOLERANCE = 0.10


def open_bound_rps(cap: Capacity, service_ms: float) -> float | None:
    """The most requests per second a configuration serves when each spends
    ``service_ms`` in the app: its sustained concurrency over the service time (Little's
    law, X = L / W; Little 1961); None when nothing in the server caps it."""
    if cap.floor is None or service_ms <= 0:
        return None
    return cap.floor / (service_ms / 1000.0)


def open_figures(figures: dict, cap: Capacity, rate_rps: float, service_ms: float,
                 window_s: float, arrivals_sent: int | None) -> dict:
    """The figures an open level is judged on, from its common ones.

    Returns:
        ``offered_rps``: what was offered in the window, measured (the arrivals k6 sent
        over the window's length), or the rate asked for where not measured;
        ``served_fraction``: throughput over min(offered, the bound ``open_bound_rps``);
        ``little_fraction``: L over X x the service time (Little's law, each request in
        the app for its service time).
    """
    offered = arrivals_sent / window_s if arrivals_sent else rate_rps
    bound = open_bound_rps(cap, service_ms)
    served = offered if bound is None else min(offered, bound)
    x, seconds = figures["throughput_rps"], service_ms / 1000.0
    return {"offered_rps": offered, "served_fraction": x / served if served else None,
            "little_fraction": figures["little_inflight"] / (x * seconds) if x and seconds else None}


def open_checks(cap: Capacity, rate_rps: float, service_ms: float) -> list[Check]:
    """The checks of an open level: requests arriving at ``rate_rps``, each in the app for
    ``service_ms`` (milliseconds).

    - throughput: what was offered (measured: Poisson arrivals vary run to run), up to the
      configuration's bound (``open_bound_rps``), within OPEN_THROUGHPUT_TOLERANCE;
    - peak in flight: never above the cap; at the cap where the rate is past its bound (a
      queue forms, every slot stays busy);
    - Little's law: L = X x W with W the service time, within LITTLE_LAW_TOLERANCE;
    - no failure, and no dropped iteration below the bound (the generator had a VU for
      every request it was asked to send).

    Figures read (``open_figures``): ``served_fraction``, ``server_peak``,
    ``little_fraction``, ``failures``, ``dropped_iterations``.
    """
    bound = open_bound_rps(cap, service_ms)
    checks = [Check("served", "served_fraction", 1 - OPEN_THROUGHPUT_TOLERANCE,
                    1 + OPEN_THROUGHPUT_TOLERANCE,
                    "X / min(offered, the bound"
                    + (f" {bound:.1f} req/s = {cap.floor} / {service_ms:g} ms" if bound else ": none")
                    + f"); OPEN_THROUGHPUT_TOLERANCE {OPEN_THROUGHPUT_TOLERANCE:.0%}")]
    if cap.limit is not None:
        past = bound is not None and rate_rps > bound * (1 + OPEN_THROUGHPUT_TOLERANCE)
        checks.append(Check("peak", "server_peak", cap.limit if past else 1, cap.limit,
                            f"the cap ({cap.formula})" + (", reached: the rate is past the "
                                                           "bound" if past else "")))
    if service_ms > 0:  # a zero-work request spends no time worth a law in the app
        checks.append(Check("little", "little_fraction", 1 - LITTLE_LAW_TOLERANCE,
                            1 + LITTLE_LAW_TOLERANCE,
                            f"L / (X x {service_ms:g} ms); LITTLE_LAW_TOLERANCE "
                            f"{LITTLE_LAW_TOLERANCE:.0%}"))
    checks.append(Check("failures", "failures", 0, 0, "every request answers 200"))
    if bound is None or rate_rps <= bound:
        checks.append(Check("dropped", "dropped_iterations", 0, 0,
                            "below the bound, k6 has a VU for every request it must send"))
    return checks
