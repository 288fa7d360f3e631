"""The database's own figures, asked by the lab's agent in PostgreSQL's container
(``python3 -m labinstrument.agent --postgres``): psql over the local socket, as the
superuser ``lab``, so that the lab's session takes a reserved slot, not one of the app's.

    GET /_lab/postgres/settings           {"max_connections", "superuser_reserved_connections",
                                           "sessions_open"}
    GET /_lab/postgres/active?samples=N   {"counts": [...], "every_s"}: the app's running
                                           pg_sleep queries, sampled N times, every_s apart,
                                           by one psql session held for all of them

The SQL is fixed here; a request chooses only how many samples (1..MAX_SAMPLES).
"""

from __future__ import annotations

import subprocess

from .errors import BadRequest

PSQL = ["psql", "--host", "/tmp", "--username", "lab", "--dbname", "postgres",
        "--no-align", "--tuples-only", "--quiet"]
#: Seconds between two samples of pg_stat_activity (the lab's ``db`` workload reads it back).
SAMPLE_S = 0.1
#: The most samples one request may ask: two minutes of them, the longest level's length.
MAX_SAMPLES = 1200
#: Client sessions open now, apart from the one asking.
OPEN_SESSIONS_SQL = ("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                     "AND pid <> pg_backend_pid()")
ACTIVE_SQL = ("SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' "
              "AND state = 'active' AND query LIKE 'SELECT pg_sleep(%'")


class PsqlError(RuntimeError):
    """psql failed; the agent answers 500 and logs this."""


def _psql(script: str, timeout_s: float) -> list[str]:
    run = subprocess.run(PSQL, input=script, capture_output=True, text=True, timeout=timeout_s)
    if run.returncode != 0:
        raise PsqlError(f"psql failed ({run.returncode}): {run.stderr[-300:]}")
    return run.stdout.split()


def settings(_query: dict[str, str]) -> dict:
    """``max_connections`` and ``superuser_reserved_connections`` as PostgreSQL runs them,
    and ``sessions_open``: client sessions open now, apart from the psql session asking."""
    values = [int(v) for v in _psql("SHOW max_connections; SHOW superuser_reserved_connections; "
                                    f"{OPEN_SESSIONS_SQL};", timeout_s=30)]
    return {"max_connections": values[0], "superuser_reserved_connections": values[1],
            "sessions_open": values[2]}


def active(query: dict[str, str]) -> dict:
    """The app's running ``pg_sleep`` queries, ``samples`` times, SAMPLE_S apart, from one
    session (its answer arrives when the last sample is taken).

    Raises:
        BadRequest: ``samples`` is not a whole number in 1..MAX_SAMPLES.
    """
    raw = query.get("samples", "")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_SAMPLES:
        raise BadRequest(f"samples must be a whole number 1..{MAX_SAMPLES}, got {raw[:20]!r}")
    samples = int(raw)
    script = f"{ACTIVE_SQL}; SELECT pg_sleep({SAMPLE_S});\n" * samples
    counts = [int(v) for v in _psql(script, timeout_s=samples * SAMPLE_S * 4 + 30) if v.isdigit()]
    return {"counts": counts, "every_s": SAMPLE_S}


ROUTES = {"/_lab/postgres/settings": settings, "/_lab/postgres/active": active}
