"""Workload ``db``: every request waits on PostgreSQL (``SELECT pg_sleep``) through a driver.

Three observers per level, each checked against the same rule (``theory.real_io_checks``):
the client's Little's law, the app's ``X-Inflight`` peak, and the database's own count of
running ``pg_sleep`` queries of the app's role, sampled from ``pg_stat_activity`` every
100 ms during the level by the agent in the database's container, asked over HTTP
(``ActiveQueries``; services/instrument/labinstrument/postgres.py holds the SQL). A
disagreement fails its own check.

Which driver blocks which event loop (``blocks_loop``), with sources:

- no event loop (sync, gthread, the threaded dev server, uWSGI processes and threads,
  waitress, granian): a wait holds its own thread or process only, and the C drivers
  release the GIL while they wait (psycopg2 docs, "Thread and process safety");
- ``psycopg2`` under gevent: libpq waits in C, out of reach of monkey-patching
  (psycogreen README); under eventlet: cooperative, eventlet's ``monkey_patch()`` makes
  psycopg2 green itself (``eventlet/patcher.py``, ``psycopg2_patcher``);
- ``psycopg2-green``: psycogreen's wait callback yields to the loop;
- ``psycopg`` (3) under gevent: cooperative from 3.1.14 (psycogreen README: "gevent is
  supported automatically"). Imported before the worker patched (gunicorn ``--preload``)
  it blocks after yielding: ``psycopg/waiting.py`` picks its wait function when imported
  ("avoid to use the wait_c function as it doesn't behave in a collaborative way" only if
  gevent had patched ``select`` by then), while ``_conninfo_attempts.py`` resolves the
  host with ``socket.getaddrinfo``, which gevent has patched by the time it is called.
  Under eventlet the same: eventlet patches the socket module but psycopg only detects
  gevent ("Eventlet is currently not supported");
- ``pg8000``: pure Python on the socket module the loop patched, looked up at each call.

Load: 500 ms queries at 12 VUs (three times gevent's 4 workers), below the 16 connections
the database leaves the app (``INFLIGHT_BELOW_LIMIT``). PostgreSQL forks a
backend for every connection (8.5 ms of its CPU each, measured here), on the core it
shares with k6 and nginx: at 250 ms and 40 VUs, 80 connections a second took 0.7 of that
core and the database's connection rate, not the drivers, set the counts.

Limits: PostgreSQL accepts ``max_connections - superuser_reserved_connections`` connections
from the app's ordinary role (read back with SHOW before each level), less every other
session open, the lab's own observer included (``OBSERVER_SESSIONS``); beyond that a
connection per request is refused ("too many clients already"), which the app answers
with a 503. With ``connections=pool`` each serving process holds ``db_pool_size``
connections (``LAB_DB_POOL_SIZE``, reported on the lab's health endpoint) and requests wait for one. A pool
keeps its connections for the life of its process (4 gevent workers x 4 = all 16 the
database leaves the app, measured idle after their level), so the bench restarts a
configuration after a pooled level, as a deploy would, before anything else needs the
database.
"""

from __future__ import annotations

import threading

from wsgilab.model.levels import Level
from wsgilab.model.load import Closed
from wsgilab.model.results import LevelResult
from wsgilab.model.theory import (
    BLOCKS,
    BLOCKS_AFTER_YIELDING,
    COOPERATIVE,
    Check,
    open_checks,
    real_io_checks,
)
from wsgilab.workloads.base import (
    Facts,
    Observer,
    ObserverError,
    Param,
    PlanRequest,
    Workload,
    common_figures,
)

#: The drivers the app serves (services/app/labapp/db.py DRIVERS; a unit test keeps the
#: two lists equal).
DRIVERS = ("psycopg2", "psycopg2-green", "psycopg", "pg8000")
#: The database service (compose/postgres.yml). The lab's own observer is its agent's psql
#: session, over the local socket, as the superuser `lab`, so that it takes a reserved slot,
#: not one of the app's (labinstrument.postgres).
DATABASE = "postgres"
#: Sessions the lab's own observer (``ActiveQueries``) holds through a level: one psql
#: session of the database's agent, as the superuser `lab`. A superuser's session takes an
#: ordinary slot while one is free: "superuser connections within these first n slots count towards this
#: non-superuser connection limit" (the patch that added superuser_reserved_connections,
#: pgsql-patches, 2002-08-25; PostgreSQL's docs: new connections are accepted only for
#: superusers once "active concurrent connections" reach max_connections minus the
#: reserve). Measured here on 2026-11-24: 20 `app` sessions asked at once, 17 got in; with
#: one `lab` session held, 16. Every recorded 24-VU level's database peak was 16.
OBSERVER_SESSIONS = 1
#: Seconds between two samples of pg_stat_activity (labinstrument.postgres SAMPLE_S; a unit
#: test keeps the two equal).
SAMPLE_S = 0.1

DB_MS = Param("db_ms", "DB_MS", 500, low=1, high=2000, unit="milliseconds",
              help="milliseconds each query waits in the database (pg_sleep)")
DRIVER = Param("driver", "DRIVER", "psycopg", choices=DRIVERS, in_name=True,
               help="the PostgreSQL driver the app uses")
CONNECTIONS = Param("connections", "CONNECTIONS", "per-request", choices=("per-request", "pool"),
                    in_name=True, help="a new connection per request, or one from the app's "
                                       "psycopg_pool (driver psycopg only)")

#: The load of the default plan's levels that must all be served: a connection per request,
#: below the connections the database leaves the app, with room for backends still
#: exiting. A backend releases its slot only once its process has exited, after the client
#: closed, so at exactly the usable count a new connection can find the last one's slot
#: still held and be refused: 1 request of about 150 was, at 16 VUs on 16 usable connections, in a
#: default bench of 2026-12-06 (the others before had none). 12 is still three times
#: gevent's 4 workers, so blocking (4 at once) and cooperative (12) drivers part as clearly.
INFLIGHT_BELOW_LIMIT = Closed(12)
#: The default plan: gevent with the blocking C driver, the same made cooperative, and
#: psycopg 3 (where blocking and cooperative drivers part), psycopg imported before
#: patching (--preload), sync for comparison, and a load past the 16 connections the
#: database leaves the app, one per request and pooled. pure-Python pg8000 is left to
#: --matrix (`make bench-real`), to keep `make bench` inside its 8 minutes: it is cooperative like
#: psycopg 3 (16 of 16 at 16 VUs, 27.2 req/s, in the run of 2026-11-23).
DEFAULT_CASES = (
    ("gevent-workers", "psycopg2", "per-request", INFLIGHT_BELOW_LIMIT),
    ("gevent-workers", "psycopg2-green", "per-request", INFLIGHT_BELOW_LIMIT),
    ("gevent-workers", "psycopg", "per-request", INFLIGHT_BELOW_LIMIT),
    ("gevent-preload", "psycopg", "per-request", INFLIGHT_BELOW_LIMIT),
    ("sync-workers", "psycopg2", "per-request", INFLIGHT_BELOW_LIMIT),
    ("gevent-workers", "psycopg", "per-request", Closed(24)),
    ("gevent-workers", "psycopg", "pool", Closed(24)),
)
#: VUs per level of the full matrix (--matrix): above gevent's 4 workers and the bounded
#: caps of 4 and 8, up to the 16 connections the database leaves the app.
MATRIX_LOAD = Closed(16)


def blocks_loop(driver: str, loop: str | None, preloaded: bool) -> tuple[str, str]:
    """How ``driver`` behaves under the event loop that patched the process
    (``theory.COOPERATIVE``, ``BLOCKS`` or ``BLOCKS_AFTER_YIELDING``), and the source."""
    if loop is None:
        return COOPERATIVE, "no event loop: a wait holds only its own thread or process"
    if driver == "psycopg2":
        if loop == "eventlet":
            return COOPERATIVE, "eventlet's monkey_patch() makes psycopg2 green (eventlet/patcher.py)"
        return BLOCKS, "psycopg2 resolves and waits in libpq's C code (psycogreen README)"
    if driver == "psycopg2-green":
        return COOPERATIVE, "psycogreen's wait callback yields to the loop"
    if driver == "psycopg":
        if loop == "eventlet":
            return BLOCKS_AFTER_YIELDING, ("psycopg 3 resolves through the patched socket "
                                           "module, then waits in C: it detects gevent only")
        if preloaded:
            return BLOCKS_AFTER_YIELDING, ("psycopg 3 imported before the worker patched "
                                           "(--preload) keeps its C wait (psycopg/waiting.py)")
        return COOPERATIVE, "psycopg 3 supports gevent from 3.1.14 (psycogreen README)"
    return COOPERATIVE, "pure Python on the socket module the loop patched"


def _agent(probe, route: str, timeout_s: float = 10.0, **params) -> dict:
    """What the database's agent answers to ``route`` (``labinstrument.postgres``), over HTTP
    through the front end.

    Raises:
        ObserverError: no answer (the database is not running, or psql failed).
    """
    try:
        return probe.agent(DATABASE, route, timeout_s, **params)
    except ConnectionError as exc:
        raise ObserverError(f"{DATABASE}'s own figures: {exc}") from None


def backend(probe) -> dict:
    """``{"max_connections", "superuser_reserved_connections"}`` as PostgreSQL runs them,
    and ``sessions_open``: client sessions open before the level, apart from the agent's
    session asking (the observer's own is not open yet; ``OBSERVER_SESSIONS``).

    Raises:
        ObserverError: the database's agent did not answer, or psql failed.
    """
    answer = _agent(probe, "postgres/settings", timeout_s=30.0)
    return {key: int(answer[key]) for key in
            ("max_connections", "superuser_reserved_connections", "sessions_open")}


def usable_connections(backend_facts: dict) -> tuple[int, str]:
    """How many connections the app's role may open during a level, and the rule.

    ``max_connections - superuser_reserved_connections - sessions_open - OBSERVER_SESSIONS``:
    every open session, a superuser's included, takes an ordinary slot while one is free
    (see OBSERVER_SESSIONS). Records made before 2026-11-24 did not read ``sessions_open``;
    nothing but the observer was connected during their levels, so it counts as 0.
    """
    reserved = backend_facts["superuser_reserved_connections"]
    others = backend_facts.get("sessions_open", 0)
    usable = backend_facts["max_connections"] - reserved - others - OBSERVER_SESSIONS
    rule = (f"max_connections {backend_facts['max_connections']} - {reserved} reserved for "
            f"superusers - {others} open before the level - {OBSERVER_SESSIONS} of the lab's "
            f"observer = {usable}")
    return usable, rule


class ActiveQueries(Observer):
    """The database's own count of the app's running ``pg_sleep`` queries, sampled every
    SAMPLE_S by one psql session of its agent, for a bounded number of samples (the
    level's length), asked in one request that lasts the level: ``db_active_peak`` (the
    highest sample), ``db_samples``."""

    def __init__(self, probe, seconds: float) -> None:
        self.probe = probe
        self.samples = int(seconds / SAMPLE_S) + 1
        self.answer: dict = {}
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _timeout_s(self) -> float:
        return self.samples * SAMPLE_S * 4 + 30

    def _run(self) -> None:
        try:
            self.answer = _agent(self.probe, "postgres/active", self._timeout_s(),
                                 samples=self.samples)
        except ObserverError as exc:
            self.error = exc

    def start(self) -> None:
        self.thread.start()

    def figures(self) -> dict:
        self.thread.join(timeout=self._timeout_s())
        if self.error:
            raise ObserverError(str(self.error))
        counts = self.answer.get("counts") or []
        if not counts:
            raise ObserverError("pg_stat_activity gave no sample")
        return {"db_active_peak": max(counts), "db_samples": len(counts)}


def expect(facts: Facts, level: Level) -> list[Check]:
    cap = facts.capacity
    if not level.closed:
        return open_checks(cap, level.load.rate_rps, level.param("db_ms"))
    blocks, why = blocks_loop(level.param("driver"), facts.runtime.get("patched_by"),
                              bool(facts.settings.get("preload_app")))
    if level.param("connections") == "pool":
        size = facts.app.get("db_pool_size", facts.runtime.get("db_pool_size"))
        pool = size * cap.parallelism
        return real_io_checks(cap, level.vus, blocks, why, "db_active_peak", pool,
                              f"the pool holds {size} connections in each of "
                              f"{cap.parallelism} serving processes = {pool}")
    usable, rule = usable_connections(facts.backend)
    return real_io_checks(cap, level.vus, blocks, why, "db_active_peak", usable, rule,
                          refuses_above=usable)


def figures(result: LevelResult, usage: dict | None, level: Level, facts: Facts) -> dict:
    values = common_figures(result, ("db",), "db")
    values["failures_not_503"] = result.counts.get("not_503", 0)
    if usage:
        values["db_active_peak"] = usage.get("db_active_peak")
        values["postgres_cpus"] = usage.get("postgres_cpu_fraction")
    return values


def plan(request: PlanRequest) -> list[Level]:
    """DEFAULT_CASES, or with ``--matrix`` every selected configuration with every driver
    at MATRIX_LOAD (and psycopg pooled)."""
    if request.matrix:
        cases = [(s, d, "per-request", MATRIX_LOAD) for s in request.services for d in DRIVERS]
        cases += [(s, "psycopg", "pool", MATRIX_LOAD) for s in request.services]
    else:
        cases = [(request.selected(role), *rest) for role, *rest in DEFAULT_CASES
                 if request.selected(role)]
        fixed = request.params.get("driver")
        if fixed and all(driver != fixed for _, driver, _, _ in cases):
            # A driver the default plan leaves out takes the default's cases.
            cases = list(dict.fromkeys((s, fixed, conn, load) for s, _, conn, load in cases))
    # An axis the user fixed (--param driver=...) keeps only its cases.
    cases = [c for c in cases if request.params.get("driver", c[1]) == c[1]
             and request.params.get("connections", c[2]) == c[2]]
    return [WORKLOAD.level(service, load, {**request.params, "driver": driver,
                                          "connections": connections})
            for service, driver, connections, case_load in cases
            for load in WORKLOAD.user_loads(request, (case_load,))]


WORKLOAD = Workload(
    name="db",
    script="db.js",
    description="PostgreSQL: each request runs SELECT pg_sleep(db_ms) through a driver (GET /db)",
    params=(DB_MS, DRIVER, CONNECTIONS),
    classes=("db",),
    expect=expect,
    figures=figures,
    plan=plan,
    containers=(DATABASE,),
    backend=backend,
    observer=ActiveQueries,
    restart_after=lambda level: level.param("connections") == "pool",
    service_param="db_ms",
    order=40,
)
