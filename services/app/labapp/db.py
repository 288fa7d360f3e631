"""PostgreSQL through four drivers: ``SELECT pg_sleep(s)`` as a database wait of known length.

The drivers are imported when this module is, at the app's import, as applications do:
under gunicorn's ``--preload`` that happens in the master, before a gevent worker patches
the standard library, which is one of the lab's experiments.

- ``psycopg2``: libpq in C. Its waits happen inside C calls that never yield to a
  coroutine hub (psycogreen README), unless a wait callback is registered: eventlet's
  ``monkey_patch()`` registers its own (``eventlet/patcher.py``, ``psycopg2_patcher``).
- ``psycopg2-green``: psycopg2 made cooperative with psycogreen: an asynchronous
  connection (``async_=True``) waited on with psycogreen's wait function for the loop that
  patched this process (``psycogreen.gevent`` or ``psycogreen.eventlet``), or psycopg2's
  own ``wait_select`` where none did. Per connection, not psycogreen's global
  ``patch_psycopg()``, so that plain ``psycopg2`` stays what it is in the same process.
  Where a wait callback is already registered (eventlet), psycopg2 is green already.
- ``psycopg``: psycopg 3, which supports gevent from 3.1.14 (psycogreen README: "gevent
  is supported automatically"; "Eventlet is currently not supported").
- ``pg8000``: pure Python on the ``socket`` module: as cooperative as the socket module is.
  Given no ``ssl_context`` it builds ``ssl.create_default_context()`` on every connect,
  which loads the system's CA store: 26 ms of CPU per connection here, 34 ms per
  connect-and-query against 1-2 ms for the C drivers. The lab's database serves no TLS
  (it is reachable only on an internal network), so the app passes ``ssl_context=False``,
  as an application talking to such a database would; libpq asks the server first and
  skips TLS when it is off.

A connection per request by default; with ``pool=True``, ``psycopg`` takes one from a
psycopg_pool ``ConnectionPool`` of ``LAB_DB_POOL_SIZE`` connections per process, and
waits for one (at most ``POOL_TIMEOUT_S``) when all are taken.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

import pg8000.dbapi
import pg8000.exceptions
import psycopg
import psycopg_pool

#: Drivers this interpreter cannot import, with the reason: psycopg2 has no wheel for a
#: free-threaded build (wsgilab/pythons.py stages only what installs there). Asking for
#: one answers a 503 that says so; the health endpoint lists them (``lab_facts``).
UNAVAILABLE: dict[str, str] = {}
try:
    import psycopg2
    import psycopg2.extensions
    import psycopg2.extras
except ImportError as exc:
    psycopg2 = None
    UNAVAILABLE.update({"psycopg2": str(exc), "psycopg2-green": str(exc)})
try:  # psycopg2-green's wait callbacks (an sdist: staged only where it builds)
    import psycogreen  # noqa: F401
except ImportError as exc:
    UNAVAILABLE.setdefault("psycopg2-green", str(exc))

DRIVERS = ("psycopg2", "psycopg2-green", "psycopg", "pg8000")
#: Drivers whose connections the app can take from a pool (psycopg_pool serves psycopg 3).
POOLED_DRIVERS = ("psycopg",)
#: Seconds to open a connection before giving up (a 503, never a hang).
CONNECT_TIMEOUT_S = 5
#: Seconds a request waits for a pooled connection before giving up (a 503).
POOL_TIMEOUT_S = 10.0
SLEEP_SQL = "SELECT pg_sleep(%s)"


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached, refused the connection (e.g. too many clients),
    or no pooled connection came free in time: answered with a 503.

    Its message is one of PUBLIC_REASONS, for the client: no address, port, file name or
    driver text. The driver's own words go to the container's log (``log``).
    """


#: What a client is told, by cause. PostgreSQL's SQLSTATE 53300 is too_many_connections
#: (PostgreSQL docs, Appendix A); libpq reports a refusal at connect time as text only, so
#: the text is matched too: "sorry, too many clients already", or, once only the slots
#: reserved for superusers are left, "remaining connection slots are reserved" (both seen
#: here past max_connections).
TOO_MANY_TEXTS = ("too many clients", "remaining connection slots are reserved")
PUBLIC_REASONS = {
    "too_many": "the database refused the connection: too many clients",
    "pool": "no pooled database connection came free in time",
    "unreachable": "the database could not be reached",
    "failed": "the database could not serve the query",
}
log = logging.getLogger(__name__)


def _reason(exc: BaseException) -> str:
    """The key of PUBLIC_REASONS that ``exc`` (a driver's error) stands for."""
    code = (getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)
            or (exc.args[0].get("C") if exc.args and isinstance(exc.args[0], dict) else None))
    if code == "53300" or any(text in str(exc) for text in TOO_MANY_TEXTS):
        return "too_many"
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return "pool"
    if isinstance(exc, (OSError, psycopg2.OperationalError, psycopg.OperationalError,
                        pg8000.exceptions.InterfaceError)):
        return "unreachable"
    return "failed"


def settings() -> dict:
    """Where the database is and the pool's size, from the environment (compose/app.yml)."""
    return {"host": os.environ.get("LAB_DB_HOST", "postgres"),
            "port": int(os.environ.get("LAB_DB_PORT", "5432")),
            "user": os.environ.get("LAB_DB_USER", "app"),
            "dbname": os.environ.get("LAB_DB_NAME", "postgres"),
            "pool_size": int(os.environ.get("LAB_DB_POOL_SIZE", "4"))}


def _dsn() -> str:
    s = settings()
    return (f"host={s['host']} port={s['port']} user={s['user']} dbname={s['dbname']} "
            f"connect_timeout={CONNECT_TIMEOUT_S} application_name=wsgi-lab")


def patched_by() -> str | None:
    """Which coroutine library patched this process's ``socket`` module: ``"gevent"``,
    ``"eventlet"`` or None."""
    if "gevent" in sys.modules:
        from gevent import monkey

        if monkey.is_module_patched("socket"):
            return "gevent"
    if "eventlet" in sys.modules:
        from eventlet import patcher

        if patcher.is_monkey_patched("socket"):
            return "eventlet"
    return None


def _green_wait():
    """psycogreen's wait function for the loop that patched this process, else psycopg2's
    own select()-based one."""
    loop = patched_by()
    if loop == "gevent":
        from psycogreen.gevent import gevent_wait_callback

        return gevent_wait_callback
    if loop == "eventlet":
        from psycogreen.eventlet import eventlet_wait_callback

        return eventlet_wait_callback
    return psycopg2.extras.wait_select


def _psycopg2(seconds: float) -> None:
    conn = psycopg2.connect(_dsn())
    try:
        with conn.cursor() as cur:
            cur.execute(SLEEP_SQL, (seconds,))
    finally:
        conn.close()


def _psycopg2_green(seconds: float) -> None:
    if psycopg2.extensions.get_wait_callback() is not None:
        return _psycopg2(seconds)  # a loop registered its own: psycopg2 is green already
    wait = _green_wait()
    conn = psycopg2.connect(_dsn(), async_=True)
    try:
        wait(conn)
        cur = conn.cursor()
        cur.execute(SLEEP_SQL, (seconds,))
        wait(conn)
    finally:
        conn.close()


def _psycopg(seconds: float) -> None:
    with psycopg.connect(_dsn(), autocommit=True) as conn:
        conn.execute(SLEEP_SQL, (seconds,))


def _pg8000(seconds: float) -> None:
    s = settings()
    conn = pg8000.dbapi.connect(user=s["user"], host=s["host"], port=s["port"],
                                database=s["dbname"], timeout=CONNECT_TIMEOUT_S + 25,
                                application_name="wsgi-lab", ssl_context=False)
    try:
        cur = conn.cursor()
        cur.execute(SLEEP_SQL, (seconds,))
    finally:
        conn.close()


_pool: psycopg_pool.ConnectionPool | None = None
_pool_lock = threading.Lock()


def _pool_for_this_process() -> psycopg_pool.ConnectionPool:
    """The process's pool, opened at first use: after the fork, never in a preloading
    master, whose connections the workers would share."""
    global _pool
    with _pool_lock:
        if _pool is None:
            size = settings()["pool_size"]
            _pool = psycopg_pool.ConnectionPool(_dsn(), min_size=size, max_size=size,
                                                timeout=POOL_TIMEOUT_S, open=True,
                                                kwargs={"autocommit": True})
        return _pool


def _psycopg_pooled(seconds: float) -> None:
    with _pool_for_this_process().connection() as conn:
        conn.execute(SLEEP_SQL, (seconds,))


_RUN = {"psycopg2": _psycopg2, "psycopg2-green": _psycopg2_green, "psycopg": _psycopg,
        "pg8000": _pg8000}
_ERRORS = ((psycopg2.Error,) if psycopg2 else ()) + (
    psycopg.Error, psycopg_pool.PoolTimeout, pg8000.exceptions.Error, OSError)


def sleep(driver: str, seconds: float, pool: bool = False) -> None:
    """Run ``SELECT pg_sleep(seconds)`` through ``driver``.

    Args:
        driver: one of DRIVERS.
        seconds: how long the database waits, in seconds.
        pool: take the connection from this process's pool (POOLED_DRIVERS only).

    Raises:
        ValueError: an unknown driver, or a pool asked of a driver without one.
        DatabaseUnavailable: the driver is not installed here (``UNAVAILABLE``), or the
            database could not serve the query (its message says why
            in words that reveal nothing internal; the driver's text is logged).
    """
    if driver not in _RUN:
        raise ValueError(f"driver must be one of {', '.join(DRIVERS)}, got {driver!r}")
    if pool and driver not in POOLED_DRIVERS:
        raise ValueError(f"pool=1 takes a connection from psycopg_pool, which serves "
                         f"driver={', '.join(POOLED_DRIVERS)}; got driver={driver}")
    if driver in UNAVAILABLE:
        raise DatabaseUnavailable(f"driver {driver} is not installed on this configuration's Python")
    try:
        (_psycopg_pooled if pool else _RUN[driver])(seconds)
    except _ERRORS as exc:
        reason = _reason(exc)
        detail = " ".join(str(exc).split()) or type(exc).__name__
        log.warning("database unavailable (%s, %s): %s: %s", driver, reason,
                    type(exc).__name__, detail)
        raise DatabaseUnavailable(PUBLIC_REASONS[reason]) from exc
