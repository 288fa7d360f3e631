"""Slow and silent clients: how many take a configuration out of service, direct vs nginx.

From the lab's own client on the internal network (``labinstrument.clients``, asked over
HTTP), N connections that send nothing
(silent) or only the start of a request line (slow: a client still sending its headers)
are opened, then one ordinary request is sent on a new connection and given PROBE_S to
be answered; N grows until it is not. Directly to the configuration, and to nginx.

Expectations, with sources:

- sync, direct: each connection holds a worker until it sends (gunicorn docs, "Deploying":
  sync workers need a buffering proxy), so N = workers takes it out of service;
- gthread, direct: a new connection is handed to a thread, which waits up to 5 s for its
  first bytes before handing it back to the poller (gunicorn 27.0.1 ``workers/gthread.py``
  ``handle``: ``wait_for_data(DEFAULT_WORKER_DATA_TIMEOUT)``, since 25.2); a slow client has
  sent bytes, so the thread goes straight into a blocking parse with no deadline and is
  held as long as the client trickles. Both workers accept from one socket and the kernel
  picks which gets each connection (benoitc/gunicorn#3433), so the probe is refused once
  the worker that takes it has all its threads held: at no fewer connections than one
  worker's threads, and, depending on the spread, at any count up to the ramp's top;
- gevent, direct: a greenlet per connection: never, within the counts tried;
- through nginx: nginx reads a request's headers before it proxies it (and gives up on
  slow ones after ``client_header_timeout``), so no configuration ever sees them: never.
"""

from __future__ import annotations

from wsgilab.model.theory import Capacity, Check
from wsgilab.studies.faults.base import Context, Outcome, Scenario

#: Seconds an ordinary request is given while the silent connections are held.
PROBE_S = 3.0
COUNTS = (1, 2, 4, 8, 16, 64)
LIGHT_COUNTS = (4,)
#: By role (compose/ lab.roles): gunicorn's sync, gthread and gevent workers.
ROLES = ("sync-workers", "gthread-workers", "gevent-workers")
LIGHT_ROLES = ("sync-workers",)


def direct_out_at(capacity: Capacity, most: int) -> tuple[int, int] | None:
    """How many clients take a configuration out of service directly, (fewest, most), or
    None: never within a ramp to ``most``. An event loop: a greenlet per connection, never.
    Workers that accept only when free (sync): exactly the cap. Workers that accept while
    their threads are busy (gthread, ``Capacity.sustained``): from one worker's threads
    up to the ramp's top, as the kernel spreads connections over the workers (measured:
    gthread 2 x 4 silent out at 8, slow at 16, 2026-11-23)."""
    if capacity.event_loop or capacity.limit is None:
        return None
    if capacity.sustained is not None:
        return capacity.floor, most
    return capacity.limit, capacity.limit

def _out_of_service_at(steps: list[dict]) -> int | None:
    return next((s["clients"] for s in steps if not s["served"]), None)


def run(ctx: Context) -> list[Outcome]:
    services = [ctx.configuration(r) for r in (LIGHT_ROLES if ctx.light else ROLES)]
    counts = LIGHT_COUNTS if ctx.light else COUNTS
    results, capacity = {}, {}
    for service in services:
        capacity[service] = ctx.apply(service).capacity
        for mode in ("silent", "slow"):
            for way, host, port, path in (("direct", service, 8000, "/io?ms=1"),
                                          ("nginx", "nginx", 8080, f"/{service}/io?ms=1")):
                results[f"{service} {mode} {way}"] = ctx.client(
                    mode, host=host, port=port, path=path,
                    counts=",".join(map(str, counts)), probe_s=PROBE_S)["steps"]
    outcomes = []
    for service in services:
        figures, checks, parts = {}, [], []
        expected = direct_out_at(capacity[service], COUNTS[-1])
        for mode in ("silent", "slow"):
            direct = _out_of_service_at(results[f"{service} {mode} direct"])
            proxied = _out_of_service_at(results[f"{service} {mode} nginx"])
            figures[f"{mode}_direct_out_at"] = direct if direct is not None else 0
            figures[f"{mode}_nginx_out_at"] = proxied if proxied is not None else 0
            figures[f"{mode}_steps"] = {"direct": results[f"{service} {mode} direct"],
                                       "nginx": results[f"{service} {mode} nginx"]}
            checks.append(Check(f"{mode}_nginx", f"{mode}_nginx_out_at", 0, 0,
                                "nginx reads the headers before it proxies: never out"))
            if expected is None:
                checks.append(Check(f"{mode}_direct", f"{mode}_direct_out_at", 0, 0,
                                    "a greenlet per connection: never out"))
            elif not ctx.light or max(counts) >= expected[0]:
                checks.append(Check(f"{mode}_direct", f"{mode}_direct_out_at", *expected,
                                    "each connection holds a worker or a thread of the worker "
                                    "that accepted it"))
            parts.append(f"{mode}: direct {'out at ' + str(direct) if direct else 'never out'}, "
                         f"via nginx {'out at ' + str(proxied) if proxied else 'never out'}")
        outcomes.append(Outcome(service, figures, checks, "; ".join(parts)
                                + f" (tried {', '.join(map(str, counts))} clients)"))
    return outcomes


SCENARIO = Scenario("slow-clients", "slow and silent clients, direct and through nginx", __doc__, run, 60)
