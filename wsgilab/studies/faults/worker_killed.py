"""Worker killed: SIGKILL one worker of a gunicorn configuration under load.

Under a closed-model load (16 VUs, 500 ms of I/O per request), one worker that holds
requests is killed with SIGKILL (what the OOM killer sends) 4 s in. Measured: the
requests that failed, against what that worker held in the app at that instant (the
app's per-process count); the seconds until the master's replacement serves (a new pid
in the app's per-process table); and whether the count of requests in flight came back to
0 by itself once the load ended.

Expectations, with sources (gunicorn ``arbiter.py``: ``reap_workers`` and
``manage_workers`` spawn a replacement as soon as SIGCHLD says a worker died):

- the lost requests are at most the victim's: the one it served (sync); its greenlets'
  (gevent); for gthread, its threads' and the connections it had accepted and queued
  behind them (benoitc/gunicorn#3433), counted here as every request not in the app at
  the kill;
- a replacement serves within RECOVERY_MAX_S;
- the count in flight is exact again: 0 after the load.
"""

from __future__ import annotations

import threading
import time

from wsgilab.model.load import Closed
from wsgilab.model.theory import Check
from wsgilab.studies.faults.base import Context, Outcome, Scenario, each

#: By role (compose/ lab.roles): gunicorn's sync, gthread and gevent workers.
ROLES = ("sync-workers", "gthread-workers", "gevent-workers")
LIGHT_ROLES = ("sync-workers",)
VUS, IO_MS, DURATION_S, KILL_AT_S = 16, 500, 12, 4.0
#: A replacement worker imports the app (about a second of CPU here) before it serves.
RECOVERY_MAX_S = 10.0


def one(ctx: Context, service: str) -> Outcome:
    cfg = ctx.apply(service)
    result = {}
    load = threading.Thread(target=lambda: result.setdefault(
        "entry", ctx.level(service, "io", Closed(VUS), {"io_ms": IO_MS}, duration_s=DURATION_S)))
    load.start()
    time.sleep(KILL_AT_S + 1.0)  # k6's start, then the steady load
    health = ctx.health(service)
    held = {int(pid): n for pid, n in health["inflight_by_pid"].items()}
    total = health["inflight"]
    victim = max(held, key=held.get)
    before = set(int(p) for p in health["served_by_pid"])
    killed_at = time.monotonic()
    ctx.signal_process(service, victim, "SIGKILL")
    recovery = None
    while time.monotonic() - killed_at < RECOVERY_MAX_S * 2:
        served = {int(p): n for p, n in ctx.health(service)["served_by_pid"].items()}
        if any(n > 0 for p, n in served.items() if p not in before):
            recovery = time.monotonic() - killed_at
            break
        time.sleep(0.1)
    load.join(timeout=DURATION_S + 120)
    entry = result.get("entry")
    failures = entry.result.failures if entry and entry.result else None
    try:
        ctx.wait_drained(service, timeout_s=30)
        drained = True
    except TimeoutError:
        drained = False
    gthread = cfg.settings.get("worker_class") == "gthread"
    bound = held[victim] + (max(0, VUS - total) if gthread else 0)
    figures = {"victim_inflight": held[victim], "inflight_at_kill": total,
               "failures": failures, "recovery_s": recovery,
               "drained": 1 if drained else 0}
    checks = [
        Check("lost", "failures", 0, bound,
              f"at most the victim's {held[victim]} in the app"
              + (f" and the {VUS - total} connections not in the app (queued, #3433)" if gthread else "")),
        Check("replaced", "recovery_s", 0, RECOVERY_MAX_S, "the arbiter respawns on SIGCHLD"),
        Check("count_exact", "drained", 1, 1, "the killed worker's requests leave the count"),
    ]
    summary = (f"killed a worker holding {held[victim]} of {total}: {failures} requests failed; "
               f"a replacement served after {recovery if recovery is None else round(recovery, 1)} s; "
               f"count back to 0: {'yes' if drained else 'no'}")
    return Outcome(service, figures, checks, summary)


SCENARIO = Scenario("worker-killed", "a worker killed under load", __doc__,
                    each(one, ROLES, LIGHT_ROLES), 20)
