"""Workload ``upstream``: every request calls the lab's upstream HTTP service.

Three observers per level, each checked against ``theory.real_io_checks``: the client's
Little's law, the app's ``X-Inflight`` peak, and the upstream service's own peak of
requests in flight (``UpstreamPeak``: reset before the level, read after it, over HTTP
through the front end).

Which client blocks which event loop (``blocks_loop``), with sources:

- no event loop: a wait holds only its own thread or process (libcurl releases the GIL:
  pycurl docs, "Thread safety");
- ``requests`` (urllib3) under gevent or eventlet: pure Python on the socket module the
  loop patched, so cooperative;
- ``pycurl`` under gevent or eventlet: libcurl waits in C (``curl_easy_perform``), out of
  reach of monkey-patching: it blocks the hub.

The upstream service (aiohttp, one event loop, a 4096-connection backlog) never caps the
lab's loads; its CPU is recorded per level to show it.

Load: 500 ms upstream waits at 40 VUs (ten times gevent's 4 workers), as long as the db
workload's queries. ``requests`` costs the app a few ms of CPU per call (a session, a
connection pool and urllib3's parsing, all in Python), spent on the same hub as every other
greenlet of its worker: at 250 ms, 40 VUs made 140-160 calls a second, the app used 0.57 of
a CPU, and the time each request spent outside the handler (queued on a busy hub, in nginx,
in k6) was 5% of it here and 11% on a slower CI machine, where Little's law then read 35.7
in flight for 40 VUs. Halving the call rate halves that CPU, so the level measures how many
calls wait at once, not how fast this machine parses HTTP.
"""

from __future__ import annotations

from wsgilab.model.levels import Level
from wsgilab.model.load import Closed
from wsgilab.model.results import LevelResult
from wsgilab.model.theory import BLOCKS, COOPERATIVE, Check, open_checks, real_io_checks
from wsgilab.workloads.base import (
    Facts,
    Observer,
    ObserverError,
    Param,
    PlanRequest,
    Workload,
    common_figures,
)

#: The clients the app offers (services/app/labapp/upstream.py CLIENTS).
CLIENTS = ("requests", "pycurl")
#: The upstream service (compose/upstream.yml), whose own statistics the front end answers
#: for (``/_lab/upstream/stats``: services/nginx/nginx.conf).
SERVICE = "upstream"

UPSTREAM_MS = Param("upstream_ms", "UPSTREAM_MS", 500, low=1, high=2000, unit="milliseconds",
                    help="milliseconds the upstream service waits before it answers")
CLIENT = Param("client", "CLIENT", "requests", choices=CLIENTS, in_name=True,
               help="the HTTP client the app uses")

#: The default plan: gevent with the cooperative and the blocking client, sync for
#: comparison; 40 VUs, ten times gevent's 4 workers.
DEFAULT_CASES = (
    ("gevent-workers", "requests", Closed(40)),
    ("gevent-workers", "pycurl", Closed(40)),
)
MATRIX_LOAD = Closed(40)


def blocks_loop(client: str, loop: str | None) -> tuple[str, str]:
    """How ``client`` behaves under the event loop that patched the process
    (``theory.COOPERATIVE`` or ``BLOCKS``), and the source."""
    if loop is None:
        return COOPERATIVE, "no event loop: a wait holds only its own thread or process"
    if client == "pycurl":
        return BLOCKS, "libcurl resolves and waits in C (curl_easy_perform), out of reach of monkey-patching"
    return COOPERATIVE, "urllib3 is pure Python on the socket module the loop patched"


def _stats(probe, path: str = "", method: str = "GET") -> dict:
    """The upstream service's own statistics, asked over HTTP through the front end
    (``Probe.backend``): no engine, so they read the same where the upstream runs on
    another machine.

    Raises:
        ObserverError: no answer (the service is not running, or the request failed).
    """
    try:
        return probe.backend(SERVICE, path, method)
    except ConnectionError as exc:
        raise ObserverError(f"{SERVICE}'s own count: {exc}") from None


class UpstreamPeak(Observer):
    """The upstream service's own peak of requests in flight during the level:
    ``upstream_peak``, and the requests it served (``upstream_served``)."""

    def __init__(self, probe, seconds: float) -> None:
        self.probe = probe

    def start(self) -> None:
        self.before = _stats(self.probe, "/reset", "POST")

    def figures(self) -> dict:
        after = _stats(self.probe)
        return {"upstream_peak": after["peak"],
                "upstream_served": after["served"] - self.before["served"]}


def expect(facts: Facts, level: Level) -> list[Check]:
    blocks, why = blocks_loop(level.param("client"), facts.runtime.get("patched_by"))
    if not level.closed:
        return open_checks(facts.capacity, level.load.rate_rps, level.param("upstream_ms"))
    return real_io_checks(facts.capacity, level.vus, blocks, why, "upstream_peak")


def figures(result: LevelResult, usage: dict | None, level: Level, facts: Facts) -> dict:
    values = common_figures(result, ("upstream",), "upstream")
    values["failures_not_503"] = result.counts.get("not_503", 0)
    if usage:
        values["upstream_peak"] = usage.get("upstream_peak")
        values["upstream_cpus"] = usage.get("upstream_cpu_fraction")
    return values


def plan(request: PlanRequest) -> list[Level]:
    """DEFAULT_CASES, or with ``--matrix`` every selected configuration with each client."""
    if request.matrix:
        cases = [(s, c, MATRIX_LOAD) for s in request.services for c in CLIENTS]
    else:
        cases = [(request.selected(role), client, load) for role, client, load in DEFAULT_CASES
                 if request.selected(role)]
    cases = [c for c in cases if request.params.get("client", c[1]) == c[1]]
    return [WORKLOAD.level(service, load, {**request.params, "client": client})
            for service, client, case_load in cases
            for load in WORKLOAD.user_loads(request, (case_load,))]


WORKLOAD = Workload(
    name="upstream",
    script="upstream.js",
    description="HTTP: each request calls the upstream service's /delay?ms=upstream_ms (GET /upstream)",
    params=(UPSTREAM_MS, CLIENT),
    classes=("upstream",),
    expect=expect,
    figures=figures,
    plan=plan,
    containers=(SERVICE,),
    observer=UpstreamPeak,
    service_param="upstream_ms",
    order=50,
)
