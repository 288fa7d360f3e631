"""WSGI middleware that reports, on every response, the concurrency the server really gave."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

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

    Requests to ``uncounted_paths`` (health checks) are passed through untouched, so a
    probe neither shows up in the counts nor changes them.

    Args:
        app: the WSGI application to wrap.
        counter: the container-wide counter shared with the other processes.
        uncounted_paths: PATH_INFO values that are not counted.
    """

    def __init__(
        self,
        app: Callable,
        counter: InflightCounter,
        uncounted_paths: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.counter = counter
        self.uncounted_paths = frozenset(uncounted_paths)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in self.uncounted_paths:
            return self.app(environ, start_response)

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
                # streamed or not; the lab's bodies are a few bytes.
                return list(body)
            finally:
                if hasattr(body, "close"):  # PEP 3333: whoever consumes the body closes it
                    body.close()
        finally:
            self.counter.leave()
