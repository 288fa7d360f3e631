"""A request longer than gunicorn's ``--timeout``: what each worker class does.

Each configuration runs with ``--timeout 3``; one request asks for 8 s of I/O through
nginx. Measured: what the client sees (status, body, seconds), whether the arbiter logged
"WORKER TIMEOUT", and the seconds until the configuration serves again.

Expectations, from gunicorn 27.0.1's source (``arbiter.py`` ``murder_workers``: a worker
whose heartbeat file is older than the timeout gets SIGABRT, then SIGKILL):

- sync: the worker beats only between requests (``workers/sync.py``), so a request past
  the timeout is aborted: SIGABRT raises SystemExit inside the app, the worker's
  ``handle`` catches it (``except BaseException``) and answers 500 before it exits
  (``workers/base.py`` ``handle_error``); nginx turns that page into JSON, and the arbiter
  starts a replacement;
- gthread: the main thread beats on every poll, at least once a second
  (``workers/gthread.py`` ``run``), whatever its threads are doing: the request completes
  (the issue expected an abort; the source and the measurement say otherwise);
- gevent: the heartbeat is a greenlet of its own; the timeout "is not tied to the length
  of time required to handle a single request" (gunicorn docs, ``timeout``): the request
  completes.
"""

from __future__ import annotations

from wsgilab.model.levels import Variant
from wsgilab.model.theory import Check
from wsgilab.studies.faults.base import Context, Outcome, Scenario, each

#: By role (compose/ lab.roles): gunicorn's sync, gthread and gevent workers.
ROLES = ("sync-workers", "gthread-workers", "gevent-workers")
LIGHT_ROLES = ("sync-workers",)
TIMEOUT_S, REQUEST_MS = 3, 8000
#: What each worker class answers a request past the timeout with (see the docstring).
EXPECTED = {"sync": 500, "gthread": 200, "gevent": 200}


def one(ctx: Context, service: str) -> Outcome:
    cfg = ctx.apply(service, Variant(knobs=(("timeout", str(TIMEOUT_S)),)))
    status, body, seconds = ctx.get(f"/{service}/io?ms={REQUEST_MS}", timeout_s=REQUEST_MS / 1000 + 20)
    logs = ctx.logs(service, 100)
    recovery = ctx.wait_served(service)
    expected = EXPECTED[cfg.settings["worker_class"]]
    figures = {"status": status, "seconds": round(seconds, 2),
               "json": 1 if "error" in body or "slept_ms" in body else 0,
               "worker_timeout_logged": 1 if "WORKER TIMEOUT" in logs else 0,
               "recovery_s": round(recovery, 2)}
    checks = [Check("answer", "status", expected, expected,
                    f"{cfg.settings['worker_class']} with --timeout {TIMEOUT_S}, a {REQUEST_MS} ms request"),
              Check("json", "json", 1, 1, "every answer of the lab is JSON")]
    summary = (f"a {REQUEST_MS / 1000:g} s request under --timeout {TIMEOUT_S}: {status} after "
               f"{seconds:.1f} s ("
               f"{'WORKER TIMEOUT logged' if figures['worker_timeout_logged'] else 'no timeout'}); "
               f"serving again after {recovery:.1f} s")
    return Outcome(service, figures, checks, summary)


SCENARIO = Scenario("timeout", "a request longer than gunicorn's --timeout", __doc__,
                    each(one, ROLES, LIGHT_ROLES), 30)
