"""WSGI middleware that reports, on every response, the concurrency the server really gave,
and answers the lab's own paths (``health``) before the application sees them."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

from . import health
from .inflight import InflightCounter

#: Response header: requests in flight in this container when this one entered the app,
#: itself included. k6 keeps its maximum as the server-side peak concurrency.
INFLIGHT_HEADER = "X-Inflight"
#: Standard Server-Timing header (W3C Server Timing); ``app;dur=`` is the time the
#: request spent inside the WSGI application, in milliseconds. Entries the app set itself
#: (``cpu;dur=``) are kept in the same header, so that a client reading one header value
#: sees them all.
TIMING_HEADER = "Server-Timing"


class InflightMiddleware:
    """Wrap a WSGI app to count its requests in flight and time them.

    Requests under the lab's reserved prefix (``health.PREFIX``) are answered by the
    instrument itself: they never reach the app, and are never counted.

    Args:
        app: the WSGI application to wrap.
        counter: the container-wide counter shared with the other processes.
        app_facts: an optional callable the health answer includes (``lab_facts``).
        on_first_request: called in each process before it serves its first request
            (after any fork and patching: ``wsgi.record_process``).
    """

    def __init__(self, app: Callable, counter: InflightCounter,
                 app_facts: Callable[[], dict] | None = None,
                 on_first_request: Callable[[], None] | None = None) -> None:
        self.app = app
        self.counter = counter
        self.app_facts = app_facts
        self.on_first_request = on_first_request
        self._recorded = 0

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(health.PREFIX):
            return health.answer(environ, start_response, self.counter, self.app_facts)

        if self._recorded != os.getpid():  # this process's facts, once it serves
            self._recorded = os.getpid()
            if self.on_first_request:
                self.on_first_request()
        started = time.perf_counter()
        inflight = self.counter.enter()

        def timed_start_response(status, headers, exc_info=None):
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            timing = [v for k, v in headers if k.lower() == TIMING_HEADER.lower()]
            timing.append(f"app;dur={elapsed_ms:.3f}")
            headers = [(k, v) for k, v in headers if k.lower() != TIMING_HEADER.lower()] + [
                (INFLIGHT_HEADER, str(inflight)),
                (TIMING_HEADER, ", ".join(timing)),
            ]
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, timed_start_response)
            try:
                # Materialised here so that a request counts until its body is produced,
                # streamed or not.
                return list(body)
            finally:
                if hasattr(body, "close"):  # PEP 3333: whoever consumes the body closes it
                    body.close()
        finally:
            self.counter.leave()
