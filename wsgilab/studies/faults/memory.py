"""Memory limit exceeded: a request allocates past its container's memory limit.

``gunicorn-sync`` with 2 workers in a 160 MiB container, ``/alloc`` switched on (it is
off everywhere else: 404), asks one worker to allocate and touch 200 MiB. Measured: what
the client sees, the kernel's OOM-kill count in the container's cgroup (the proof: gunicorn
logs any SIGKILL as "Perhaps out of memory?"), the seconds until the master's replacement
serves, and the count of requests in flight afterwards.

Expectations, with sources: the kernel's OOM killer kills a process of the cgroup that
exceeded its limit, the largest (kernel docs, ``admin-guide/mm/concepts``, "OOM killer";
``cgroup-v1/memory.rst``); gunicorn's arbiter replaces the worker (``arbiter.py``); the
client gets nginx's 502, as JSON; the count of requests in flight is exact afterwards.
"""

from __future__ import annotations

from wsgilab.model.levels import Variant
from wsgilab.model.theory import Check
from wsgilab.studies.faults.base import Context, Outcome, Scenario, oom_kills

#: By role (compose/ lab.roles): gunicorn's sync workers.
ROLE = "sync-workers"
VARIANT = Variant(memory="160M", knobs=(("workers", "2"),), switches=("allow_alloc",))
ALLOC_MB = 200


def run(ctx: Context) -> list[Outcome]:
    service = ctx.configuration(ROLE)
    ctx.apply(service, VARIANT)
    before = oom_kills(ctx, service)
    status, body, seconds = ctx.get(f"/{service}/alloc?mb={ALLOC_MB}", timeout_s=60)
    recovery = ctx.wait_served(service)
    # Read once it serves again: the instrument answers from a live worker (the count
    # only grows, so nothing is missed by waiting).
    after = oom_kills(ctx, service)
    try:
        ctx.wait_drained(service, timeout_s=30)
        drained = 1
    except TimeoutError:
        drained = 0
    figures = {"status": status, "json": 1 if "error" in body else 0, "seconds": round(seconds, 2),
               "oom_kills": None if before is None or after is None else after - before,
               "recovery_s": round(recovery, 2), "drained": drained}
    checks = [Check("answer", "status", 502, 502, "the worker dies mid-request: nginx's 502"),
              Check("json", "json", 1, 1, "nginx's own errors are JSON"),
              Check("oom_killed", "oom_kills", 1, None, "the kernel's OOM killer, counted in the cgroup"),
              Check("count_exact", "drained", 1, 1, "the killed worker's request leaves the count")]
    summary = (f"/alloc of {ALLOC_MB} MiB in 160 MiB: {status} after {seconds:.1f} s, "
               f"{figures['oom_kills']} OOM kill(s) in the cgroup; serving again after {recovery:.1f} s")
    return [Outcome(f"{service} ({VARIANT.describe()})", figures, checks, summary)]


SCENARIO = Scenario("memory", "a request past the container's memory limit", __doc__, run, 40)
