"""Thread exhaustion: the threaded dev server past its container's pids limit.

``app.run()`` starts a thread per connection with no cap of its own
(``socketserver.ThreadingMixIn``); a pids limit counts threads (kernel docs,
``cgroup-v1/pids.rst``). More VUs than the limit allows (256 pids: 300 VUs of 2 s
requests) push it past: Python's ``Thread.start`` fails ("can't start new thread") for
the connections beyond. Measured: the failed requests, what the client sees (statuses and
bodies of requests sent meanwhile), that another configuration meanwhile answers as
before, and the seconds until it serves again once the load ends.

Expectations: some requests fail, every one of them a clean answer (nginx's 502, JSON);
the peak in flight stays under the pids limit; gunicorn-gevent is untouched; it serves
again by itself.
"""

from __future__ import annotations

import threading
import time

from wsgilab.model.load import Closed
from wsgilab.model.theory import Check
from wsgilab.studies.faults.base import Context, Outcome, Scenario

#: By role (compose/ lab.roles): the threaded dev server, and one that must not notice.
THREADED, OTHER = "dev-server", "gevent-workers"
VUS, LIGHT_VUS, IO_MS = 300, 290, 2000


def run(ctx: Context) -> list[Outcome]:
    service, other = ctx.configuration(THREADED), ctx.configuration(OTHER)
    cfg = ctx.apply(service)
    vus = LIGHT_VUS if ctx.light else VUS
    result = {}
    load = threading.Thread(target=lambda: result.setdefault(
        "entry", ctx.level(service, "io", Closed(vus), {"io_ms": IO_MS}, duration_s=8,
                           warmup_s=3)))
    load.start()
    time.sleep(4.0)
    seen = [ctx.get(f"/{service}/io?ms=1", timeout_s=15) for _ in range(10)]
    others = [ctx.get(f"/{other}/io?ms=10")[0] for _ in range(10)]
    load.join(timeout=180)
    entry = result.get("entry")
    recovery = ctx.wait_served(service)
    statuses = sorted({s for s, _, _ in seen})
    failed = [(s, b) for s, b, _ in seen if s != 200]
    figures = {"failures": entry.result.failures if entry and entry.result else None,
               "requests": entry.result.requests if entry and entry.result else None,
               "peak": entry.result.server_peak if entry and entry.result else None,
               "pids_limit": cfg.limits.pids, "statuses_seen": statuses,
               "unclean": sum(1 for s, b in failed if s not in (502, 503, 504) or "error" not in b),
               "others_failed": sum(s != 200 for s in others), "recovery_s": round(recovery, 2)}
    checks = [Check("refused", "failures", 1, None, f"{vus} connections need more threads than "
                    f"{cfg.limits.pids} pids allow"),
              Check("clean", "unclean", 0, 0, "what the client sees is a JSON 5xx from nginx"),
              Check("capped", "peak", 1, cfg.limits.pids, "the pids limit caps the threads"),
              Check("others", "others_failed", 0, 0, f"{other} is untouched")]
    summary = (f"{vus} VUs against {cfg.limits.pids} pids: {figures['failures']} of "
               f"{figures['requests']} failed, peak {figures['peak']}; clients saw {statuses}; "
               f"{other} fine; serving again after {recovery:.1f} s")
    return [Outcome(service, figures, checks, summary)]


SCENARIO = Scenario("threads", "the threaded dev server past its pids limit", __doc__, run, 70)
