"""What each server configuration should reach: its concurrency cap, and the verdict rules.

A configuration's cap is computed from the settings the running server reports about
itself (``GET /<service>/healthz``), never restated by hand:

==========================  ==============================  ===================================
server / worker class       in-flight requests at most      source
==========================  ==============================  ===================================
werkzeug, threaded=False    1 (or ``processes`` if > 1)     werkzeug ``serving.py``:
                                                            ``BaseWSGIServer`` serves one request
                                                            at a time; ``ForkingWSGIServer``
                                                            forks up to ``max_children``
werkzeug, threaded=True     no cap (a thread per            ``ThreadedWSGIServer`` =
                            connection; pids limit)         ``socketserver.ThreadingMixIn``
gunicorn sync               workers                         gunicorn design doc: "1 request/worker"
gunicorn gthread            workers x threads               ``gthread.py``: a
                                                            ``ThreadPoolExecutor(max_workers=threads)``
                                                            per worker
gunicorn gevent, eventlet   workers x worker_connections    gunicorn settings: worker_connections
                                                            "the maximum number of simultaneous
                                                            clients" per async worker
==========================  ==============================  ===================================

The cap is a ceiling on the peak. What a server *sustains* under load can be less: a
gthread worker accepts connections whether or not one of its threads is free, and the
kernel hands a new connection to whichever worker's poller it wakes, not to the least
busy one (benoitc/gunicorn#3433, #2191, #1364). Requests then queue behind one worker's
busy threads while another worker's threads idle, so only one worker's threads are sure
to be busy. ``Capacity.sustained`` states that floor; the Little's-law check uses it.
(Sync workers, and the dev server's forking parent, accept only when free: no such loss.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The issue's rule for client-bound runs: when the server has room for every VU, its peak
#: must reach at least this fraction of the VUs. Below 1 because a closed-model VU spends a
#: little of each cycle outside the server (in k6, on the wire, in nginx), so not every VU
#: need be inside the app at the same instant.
CLIENT_BOUND_MIN_FRACTION = 0.90

#: Tolerance of the Little's-law check on a server-bound run: (throughput x mean time in
#: the app) may fall short of the cap by this fraction. Little's law gives the *average*
#: number in the app; a saturated worker also spends time on each request outside the app
#: (accept, HTTP parsing, writing the response; a fork per request for the dev server with
#: processes=N), which at a 250 ms request is a few per cent, and counting whole completions
#: in a finite window adds up to 1/completions more.
LITTLE_LAW_TOLERANCE = 0.10

#: The async worker classes whose cap is workers x worker_connections.
ASYNC_WORKER_CLASSES = frozenset({"gevent", "eventlet", "gevent_wsgi", "gevent_pywsgi"})


class UnknownServer(ValueError):
    """The server settings describe a server or worker class the theory does not cover."""


@dataclass(frozen=True)
class Capacity:
    """The most requests a configuration can have in flight.

    Attributes:
        limit: the cap, or None when nothing in the server caps concurrency (only the
            container's pids limit, which the lab sizes above the bench's load).
        formula: how the cap follows from the settings, e.g. ``"workers x threads = 2 x 4"``.
        sustained: requests the server keeps in the app under saturating load whatever
            the kernel's choice of worker; None means the same as ``limit``.
    """

    limit: int | None
    formula: str
    sustained: int | None = None

    @property
    def floor(self) -> int | None:
        """The sustained concurrency: ``sustained`` if set, else ``limit``."""
        return self.limit if self.sustained is None else self.sustained


def capacity(settings: dict) -> Capacity:
    """Compute a configuration's cap from the settings its server reports.

    Args:
        settings: the ``server`` object of ``/healthz``: ``{"server": "werkzeug",
            "threaded": bool, "processes": int}`` or ``{"server": "gunicorn",
            "worker_class": str, "workers": int, "threads": int, "worker_connections": int}``.

    Raises:
        UnknownServer: a server or worker class outside the table above.
    """
    server = settings.get("server")
    if server == "werkzeug":
        if settings["threaded"]:
            return Capacity(None, "a thread per connection (no cap)")
        processes = settings["processes"]
        if processes > 1:
            return Capacity(processes, f"processes = {processes}")
        return Capacity(1, "one request at a time = 1")
    if server == "gunicorn":
        worker_class = settings["worker_class"]
        workers = settings["workers"]
        if worker_class == "sync":
            return Capacity(workers, f"workers = {workers}")
        if worker_class == "gthread":
            threads = settings["threads"]
            # Only one worker's pool is sure to be busy (see the module docstring).
            return Capacity(workers * threads, f"workers x threads = {workers} x {threads}",
                            sustained=threads if workers > 1 else None)
        if worker_class in ASYNC_WORKER_CLASSES:
            conns = settings["worker_connections"]
            return Capacity(workers * conns,
                            f"workers x worker_connections = {workers} x {conns}")
        raise UnknownServer(f"no theory for gunicorn worker class {worker_class!r}")
    raise UnknownServer(f"no theory for server {server!r} (settings {settings})")


@dataclass(frozen=True)
class Expectation:
    """What a run at a given number of VUs should show.

    Attributes:
        inflight: requests in flight expected at the peak: min(VUs, cap).
        server_bound: True when the cap, not the VUs, sets the peak (VUs > cap). Then the
            peak must equal the cap exactly; otherwise it must reach
            CLIENT_BOUND_MIN_FRACTION of the VUs.
        sustained: the least average concurrency the server is sure to keep up:
            min(VUs, Capacity.floor). The Little's-law check's lower bound starts here.
    """

    inflight: int
    server_bound: bool
    sustained: int

    @property
    def min_peak(self) -> int:
        """The lowest server-side peak that passes (whole requests)."""
        if self.server_bound:
            return self.inflight
        return math.ceil(CLIENT_BOUND_MIN_FRACTION * self.inflight)

    @property
    def min_little(self) -> float:
        """The lowest Little's-law concurrency (throughput x time in app) that passes."""
        if self.server_bound:
            return self.sustained * (1 - LITTLE_LAW_TOLERANCE)
        return CLIENT_BOUND_MIN_FRACTION * self.sustained

    @property
    def max_little(self) -> float:
        """The highest Little's-law concurrency that passes (a count cannot beat its cap)."""
        return self.inflight * (1 + LITTLE_LAW_TOLERANCE)


def expect(cap: Capacity, vus: int) -> Expectation:
    """The expectation for ``vus`` closed-model virtual users against ``cap``."""
    if vus < 1:
        raise ValueError(f"vus must be at least 1, got {vus}")
    sustained = vus if cap.floor is None else min(vus, cap.floor)
    if cap.limit is not None and vus > cap.limit:
        return Expectation(cap.limit, server_bound=True, sustained=sustained)
    return Expectation(vus, server_bound=False, sustained=sustained)


def judge(expectation: Expectation, peak: int, little: float, failures: int) -> list[str]:
    """Compare one run with its expectation.

    Args:
        peak: the server-side peak of in-flight requests (max X-Inflight).
        little: Little's-law concurrency, throughput (req/s) x mean time in the app (s).
        failures: requests that did not answer 200.

    Returns:
        the reasons the run fails, each with expected vs measured; empty when it passes.
    """
    problems = []
    if failures:
        problems.append(f"{failures} requests failed (expected none)")
    if not expectation.min_peak <= peak <= expectation.inflight:
        wanted = (f"exactly {expectation.inflight}" if expectation.server_bound
                  else f"{expectation.min_peak}..{expectation.inflight}")
        problems.append(f"server-side peak in flight: expected {wanted}, measured {peak}")
    if not expectation.min_little <= little <= expectation.max_little:
        problems.append(
            f"Little's law concurrency: expected {expectation.min_little:.2f}.."
            f"{expectation.max_little:.2f}, measured {little:.2f}")
    return problems
