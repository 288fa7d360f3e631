"""The Flask application served by every configuration of the lab.

Endpoints:
    GET /slow?time=<s>   the seeds' own example: sleep ``time`` whole seconds (default 5),
                         answer ``Slept for N seconds.``
    GET /io?ms=<ms>      the bench's finer I/O-bound request: sleep ``ms`` milliseconds.
    GET /cpu?ms=<ms>     a CPU-bound request: burn ``ms`` milliseconds of the serving
                         thread's own CPU time in pure Python (``labapp.cpu``); answers
                         ``{"cpu_ms", "wall_ms"}`` and adds ``cpu;dur=`` to Server-Timing.
    GET /db?ms=<ms>&driver=<name>[&pool=1]
                         ``SELECT pg_sleep(ms / 1000)`` on PostgreSQL through a driver
                         (``labapp.db``: psycopg2, psycopg2-green, psycopg, pg8000).
    GET /upstream?ms=<ms>&client=<name>
                         ``GET /delay?ms=`` on the lab's upstream service through a client
                         (``labapp.upstream``: requests, pycurl).
    GET /alloc?mb=<MiB>  allocate and touch that much memory (only where LAB_ALLOW_ALLOC=1:
                         the memory scenario); 404 otherwise.

A database or upstream service that cannot serve the request is a 503 with a JSON message.
The lab measures this app as it measures any: through its instrument (``labinstrument``),
which counts requests in flight and answers the lab's health endpoint; the app knows
nothing of it, and reports its database pool's size through ``wsgi.lab_facts``.

``time.sleep`` stands for waiting on I/O (a database, another service): it blocks a thread
or a worker process, and is cooperative under gevent's and eventlet's monkey-patching,
which is exactly the difference the lab measures.
"""

from __future__ import annotations

import os
import re
import time

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from . import db, upstream
from .cpu import burn

#: Upper bound of /slow?time=. Below gunicorn's default 30 s worker timeout, which would
#: otherwise kill a sync worker mid-request and turn the answer into a 502.
MAX_SLOW_SECONDS = 20
#: The seed article's default for /slow.
DEFAULT_SLOW_SECONDS = 5
#: Upper bound of /io?ms=, for the same reason as MAX_SLOW_SECONDS.
MAX_IO_MS = 20_000
DEFAULT_IO_MS = 100
#: Upper bound of /cpu?ms=: two seconds of CPU is already far beyond a web request's budget.
MAX_CPU_MS = 2_000
DEFAULT_CPU_MS = 50
#: The most header fields a request may carry: gunicorn's own limit (limit_request_fields),
#: applied by the app for the servers that have none (werkzeug, waitress, uWSGI, granian).
MAX_HEADER_FIELDS = 100
#: The switch for /alloc, off unless the memory scenario sets it (compose APP_ALLOW_ALLOC).
ALLOW_ALLOC_ENV = "LAB_ALLOW_ALLOC"
MAX_ALLOC_MB = 1024
#: Upper bound of /db and /upstream waits, ms, for the same reason as MAX_IO_MS.
MAX_BACKEND_MS = 20_000
DEFAULT_BACKEND_MS = 100
#: The response header the app adds its CPU time to (W3C Server Timing: ``cpu;dur=``).
TIMING_HEADER = "Server-Timing"
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")


class BadParameter(ValueError):
    """A query parameter that is missing its form or out of range (answered with 400)."""


def int_param(name: str, default: int, low: int, high: int, unit: str) -> int:
    """Read query parameter ``name`` as a whole number in ``[low, high]``.

    Raises:
        BadParameter: the value is not a whole number, or lies outside the range.
    """
    values = request.args.getlist(name)
    if len(values) > 1:
        raise BadParameter(f"{name} must be given once, got {len(values)} values")
    raw = values[0] if values else None
    if raw is None:
        return default
    # Plain ASCII digits only: int() alone would also take " 5", "1_000" and "٣".
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise BadParameter(f"{name} must be a whole number of {unit}, got {_shown(raw)}")
    # Over-long is refused before int(), which raises a ValueError of its own past
    # CPython's integer digit limit (4,300 digits, sys.get_int_max_str_digits).
    if len(raw) > MAX_NUMBER_CHARS:
        raise BadParameter(f"{name} must be between {low} and {high} {unit}, written in at "
                           f"most {MAX_NUMBER_CHARS} characters, got {_shown(raw)}")
    value = int(raw)
    if not low <= value <= high:
        raise BadParameter(f"{name} must be between {low} and {high} {unit}, got {value}")
    return value


#: The longest whole-number parameter read: no bound here needs more than 6 digits, and 32
#: leaves room for zero-padded values, far below CPython's 4,300-digit int() limit.
MAX_NUMBER_CHARS = 32
#: The most characters of a bad value an error message repeats.
SHOWN_CHARS = 40


def _shown(raw: str) -> str:
    """``raw`` as an error message quotes it: repr, cut to SHOWN_CHARS characters."""
    return repr(raw) if len(raw) <= SHOWN_CHARS else repr(raw[:SHOWN_CHARS]) + f"... ({len(raw)} characters)"


def choice_param(name: str, choices: tuple[str, ...], default: str) -> str:
    """Read query parameter ``name``, one of ``choices``.

    Raises:
        BadParameter: any other value.
    """
    values = request.args.getlist(name)
    if len(values) > 1:
        raise BadParameter(f"{name} must be given once, got {len(values)} values")
    value = values[0] if values else default
    if value not in choices:
        raise BadParameter(f"{name} must be one of {', '.join(choices)}, got {_shown(value)}")
    return value


def create_app() -> Flask:
    """Build the lab's demo Flask app."""
    app = Flask(__name__)

    @app.get("/slow")
    def slow():
        seconds = int_param("time", DEFAULT_SLOW_SECONDS, 0, MAX_SLOW_SECONDS, "seconds")
        time.sleep(seconds)
        return f"Slept for {seconds} seconds."

    @app.get("/io")
    def io():
        ms = int_param("ms", DEFAULT_IO_MS, 0, MAX_IO_MS, "milliseconds")
        time.sleep(ms / 1000.0)
        return jsonify(slept_ms=ms)

    @app.before_request
    def refuse_too_many_header_fields():
        fields = sum(1 for key in request.environ if key.startswith("HTTP_"))
        if fields > MAX_HEADER_FIELDS:
            return jsonify(error=f"at most {MAX_HEADER_FIELDS} header fields, got {fields}"), 431
        return None

    @app.get("/alloc")
    def alloc():
        """Allocate ``mb`` MiB and hold it while the request lasts: the memory scenario's
        way past a container's limit. Off unless LAB_ALLOW_ALLOC=1."""
        if os.environ.get(ALLOW_ALLOC_ENV) != "1":
            return jsonify(error="/alloc is off: only the memory scenario enables it"), 404
        mb = int_param("mb", 1, 1, MAX_ALLOC_MB, "MiB")
        block = bytearray(mb * 2**20)
        for i in range(0, len(block), 4096):  # touch every page: resident, not just reserved
            block[i] = 1
        time.sleep(0.1)
        return jsonify(allocated_mb=mb)

    @app.get("/cpu")
    def cpu():
        ms = int_param("ms", DEFAULT_CPU_MS, 0, MAX_CPU_MS, "milliseconds")
        started = time.perf_counter()
        used_s = burn(ms / 1000.0)
        wall_ms = (time.perf_counter() - started) * 1000.0
        response = jsonify(cpu_ms=round(used_s * 1000.0, 3), wall_ms=round(wall_ms, 3))
        response.headers[TIMING_HEADER] = f"cpu;dur={used_s * 1000.0:.3f}"
        return response

    @app.get("/db")
    def database():
        ms = int_param("ms", DEFAULT_BACKEND_MS, 0, MAX_BACKEND_MS, "milliseconds")
        driver = choice_param("driver", db.DRIVERS, "psycopg")
        pool = choice_param("pool", ("0", "1"), "0") == "1"
        try:
            db.sleep(driver, ms / 1000.0, pool=pool)
        except ValueError as exc:
            raise BadParameter(str(exc)) from None
        return jsonify(slept_ms=ms, driver=driver, pool=pool)

    @app.get("/upstream")
    def upstream_call():
        ms = int_param("ms", DEFAULT_BACKEND_MS, 0, MAX_BACKEND_MS, "milliseconds")
        client = choice_param("client", upstream.CLIENTS, "requests")
        upstream.delay(client, ms)
        return jsonify(slept_ms=ms, client=client)

    @app.errorhandler(db.DatabaseUnavailable)
    @app.errorhandler(upstream.UpstreamUnavailable)
    def backend_unavailable(error: RuntimeError):
        return jsonify(error=str(error)), 503

    @app.errorhandler(BadParameter)
    def bad_parameter(error: BadParameter):
        return jsonify(error=str(error)), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return jsonify(error=error.description), error.code

    return app
