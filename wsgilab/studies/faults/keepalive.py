"""Keep-alive against caps: idle connections that hold what requests need.

A client holds 4 idle HTTP/1.1 keep-alive connections (one request each, then nothing)
and sends one more request on a new connection. Against gunicorn's gevent worker with
``--worker-connections 4`` and one worker, and granian with ``--backpressure 4``: directly,
and through nginx, which opens one connection to the app per request (HTTP/1.0).

Expectations, with sources:

- gevent, direct: an idle keep-alive connection keeps its greenlet, one of the worker's
  ``worker_connections`` (benoitc/gunicorn#2585: "3 requests completed at t = 2 ... 3 more
  at t = 63"), until gunicorn's ``keepalive`` (2 s) closes it: the new request waits about
  that long;
- granian, direct: backpressure "will limit connections, not the single requests"
  (granian README, "Backpressure"): the new connection waits until an idle one goes;
- through nginx: nginx keeps the idle connections itself and opens one to the app per
  request: served at once. (The setting that avoids the wait: caps that count requests,
  gevent's worker_connections and granian's blocking threads, well above what a proxy's
  pool can hold idle; or a proxy that does not pool.)
"""

from __future__ import annotations

from wsgilab.model.levels import Variant
from wsgilab.model.theory import Check
from wsgilab.studies.faults.base import Context, Outcome, Scenario

IDLE, PROBE_S = 4, 8.0
#: By role (compose/ lab.roles): one gevent worker with few worker connections, and
#: granian with a low backpressure.
CASES = (("gevent-workers", Variant(knobs=(("workers", "1"), ("worker_connections", str(IDLE)))),
          "worker_connections"),
         ("granian-blocking-threads", Variant(knobs=(("backpressure", str(IDLE)),)), "backpressure"))
LIGHT_CASES = CASES[:1]
#: "At once": a new request through nginx waits no more than this.
AT_ONCE_S = 1.0
#: A request that waited this long or longer was held by the idle connections.
HELD_S = 1.0

def run(ctx: Context) -> list[Outcome]:
    outcomes = []
    for role, variant, knob in (LIGHT_CASES if ctx.light else CASES):
        service = ctx.configuration(role)
        ctx.apply(service, variant)
        direct = ctx.client("keepalive", host=service, port=8000, path="/io?ms=1", idle=IDLE,
                            probe_s=PROBE_S)
        proxied = ctx.client("keepalive", host="nginx", port=8080, path=f"/{service}/io?ms=1",
                             idle=IDLE, probe_s=PROBE_S)
        figures = {"direct_wait_s": direct["seconds"] if direct["served"] else PROBE_S,
                   "direct_served": 1 if direct["served"] else 0,
                   "nginx_wait_s": proxied["seconds"] if proxied["served"] else PROBE_S}
        checks = [Check("held", "direct_wait_s", HELD_S, None,
                        f"{IDLE} idle keep-alive connections hold the {knob}"),
                  Check("nginx", "nginx_wait_s", 0, AT_ONCE_S,
                        "nginx opens a connection to the app per request")]
        wait = f"{direct['seconds']:.1f} s" if direct["served"] else f"not served in {PROBE_S:g} s"
        summary = (f"{knob} {IDLE}, {IDLE} idle keep-alive connections: a new request directly "
                   f"{wait}; through nginx {proxied['seconds']:.2f} s")
        outcomes.append(Outcome(f"{service} ({variant.describe()})", figures, checks, summary))
    return outcomes


SCENARIO = Scenario("keepalive", "idle keep-alive connections against caps", __doc__, run, 80)
