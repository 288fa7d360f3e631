"""A configuration's container stopped: nginx answers without hanging, the others do not notice.

``gunicorn-sync``'s container is stopped right after a request to it (so nginx holds its
address in the resolver's cache); then a request to it at once, one after the cache has
expired, and 20 requests to ``gunicorn-gevent`` meanwhile are timed; then it is started
again. Expectations, from nginx.conf (read from the file, not repeated here):

- at once, inside the resolver's ``valid=`` window, nginx still has the stopped
  container's address: nothing answers there (no RST on a bridge network once the
  endpoint is gone), so the connect attempt waits out ``proxy_connect_timeout`` and the
  client gets a 504, as JSON: bounded, never a hang;
- once the cache has expired, Docker's DNS no longer knows the name ("could not be
  resolved") and nginx answers 502, as JSON, at once;
- every other configuration answers as before, and traffic comes back when the container
  does (nginx resolves names per request).
"""

from __future__ import annotations

import re
import time

from wsgilab.model.paths import ROOT
from wsgilab.model.theory import Check
from wsgilab.studies.faults.base import Context, Outcome, Scenario

#: By role (compose/ lab.roles): the configuration stopped, and one that must not notice.
STOPPED, OTHER = "sync-workers", "gevent-workers"
NGINX_CONF = ROOT / "services" / "nginx" / "nginx.conf"
#: "At once": a local 502 takes milliseconds; a second leaves room for a busy machine.
AT_ONCE_S = 1.0
#: Slack over proxy_connect_timeout for nginx's timer and the client's own time.
TIMER_SLACK_S = 1.0
OTHER_REQUESTS = 20


def nginx_seconds(directive: str, text: str | None = None) -> float:
    """Seconds set by ``directive`` in nginx.conf (``proxy_connect_timeout 5s;`` or
    ``resolver ... valid=1s``). Raises ValueError if nginx.conf does not set it."""
    text = NGINX_CONF.read_text() if text is None else text
    pattern = {"valid": r"resolver\s[^;]*valid=(\d+)s"}.get(directive, rf"{directive}\s+(\d+)s\s*;")
    found = re.search(pattern, text)
    if not found:
        raise ValueError(f"nginx.conf sets no {directive}")
    return float(found.group(1))


def run(ctx: Context) -> list[Outcome]:
    service, other = ctx.configuration(STOPPED), ctx.configuration(OTHER)
    connect_timeout, valid = nginx_seconds("proxy_connect_timeout"), nginx_seconds("valid")
    ctx.apply(service)
    ctx.get(f"/{service}/io?ms=1")  # nginx now caches its address for `valid` seconds
    ctx.lab.stop(service)
    try:
        first, first_body, first_s = ctx.get(f"/{service}/io?ms=1")
        others = [ctx.get(f"/{other}/io?ms=10")[0] for _ in range(OTHER_REQUESTS)]
        time.sleep(valid + 0.5)  # past the resolver cache's validity: a bounded wait
        later, later_body, later_s = ctx.get(f"/{service}/io?ms=1")
    finally:
        ctx.lab.start(service)
    recovery = ctx.wait_served(service)
    figures = {"first_status": first, "first_s": round(first_s, 3),
               "later_status": later, "later_s": round(later_s, 3),
               "json": int("error" in first_body and "error" in later_body),
               "others_failed": sum(s != 200 for s in others), "recovery_s": round(recovery, 2)}
    checks = [Check("cached", "first_status", 502, 504,
                    f"502, or 504 once proxy_connect_timeout ({connect_timeout:.0f} s) runs out on "
                    f"the address still cached (resolver valid={valid:.0f}s)"),
              Check("bounded", "first_s", 0, connect_timeout + TIMER_SLACK_S,
                    "never longer than proxy_connect_timeout: no hang"),
              Check("answer", "later_status", 502, 502, "the name no longer resolves: nginx's 502"),
              Check("at_once", "later_s", 0, AT_ONCE_S, "no connect attempt to wait for"),
              Check("json", "json", 1, 1, "nginx's own errors are JSON"),
              Check("others", "others_failed", 0, 0, f"{other} is untouched")]
    summary = (f"stopped: {first} after {first_s:.1f} s right after the stop (address maybe still cached), "
               f"{later} after {later_s * 1000:.0f} ms once the cache expired; {other} "
               f"{OTHER_REQUESTS - figures['others_failed']}/{OTHER_REQUESTS} fine; serving "
               f"again {recovery:.1f} s after its start")
    return [Outcome(service, figures, checks, summary)]


SCENARIO = Scenario("stopped", "a configuration's container stopped", __doc__, run, 50)
