"""The instrument's endpoint, asked over HTTP through the front end: ``/<service>/_lab/``.

Every configuration's container runs the app under the lab's instrument
(``services/instrument/labinstrument``), which answers ``/_lab/health`` with what the lab
reads about it: requests in flight, the server's resolved settings, the container's
limits as the app sees them, its runtime, its processes. A ``Probe`` asks it through nginx
on 127.0.0.1, the way the load goes; it needs no engine. The backends that keep a count of
their own (the upstream service) answer under the front end's ``/_lab/<backend>/`` the
same way.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

#: The lab's front end, published on loopback only (docker-compose.yml).
DEFAULT_BASE_URL = "http://127.0.0.1:8080"
#: The instrument's health endpoint, under its reserved prefix (services/instrument/
#: labinstrument/health.py HEALTH_PATH; a unit test keeps the two equal).
HEALTH_PATH = "/_lab/health"
#: Where the front end answers for the backends' own counts (``/_lab/<backend>/stats``:
#: services/nginx/nginx.conf).
BACKENDS_PATH = "/_lab"


def _answer(url: str, method: str, timeout_s: float) -> dict:
    """The JSON ``url`` answers to ``method``.

    Raises:
        ConnectionError: no 200 answer, or no JSON, within ``timeout_s`` seconds.
    """
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method),
                                    timeout=timeout_s) as resp:
            return json.load(resp)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ConnectionError(f"{method} {url} did not answer: {exc}") from exc


@dataclass(frozen=True)
class Probe:
    """The instrument of each configuration behind the front end at ``base_url``."""

    base_url: str = DEFAULT_BASE_URL

    def health(self, service: str, timeout_s: float = 10.0) -> dict:
        """``GET /<service>/_lab/health`` through nginx: the instrument's ``health.report``
        (``status``, ``inflight``, ``server``, ``container``, ``runtime``, ``processes``,
        ``app``).

        Raises:
            ConnectionError: no 200 answer within ``timeout_s`` seconds.
        """
        return _answer(f"{self.base_url}/{service}{HEALTH_PATH}", "GET", timeout_s)

    def backend(self, name: str, path: str = "", method: str = "GET",
                timeout_s: float = 10.0) -> dict:
        """A backend's own figures through the front end: ``<method> /_lab/<name>/stats<path>``
        (services/nginx/nginx.conf proxies it to the backend), the JSON it answers.

        Raises:
            ConnectionError: no 200 answer within ``timeout_s`` seconds.
        """
        return _answer(f"{self.base_url}{BACKENDS_PATH}/{name}/stats{path}", method, timeout_s)

    def wait_reachable(self, service: str, timeout_s: float = 30.0, poll_s: float = 0.25) -> dict:
        """Wait until ``service`` answers its health check through nginx; return the answer.

        A recreated container may take a new address that nginx's resolver learns within
        its ``valid`` time (services/nginx/nginx.conf), so the first probes may fail.

        Raises:
            ConnectionError: no answer within ``timeout_s`` seconds.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.health(service, timeout_s=5.0)
            except ConnectionError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(poll_s)

    def wait_drained(self, service: str, timeout_s: float = 60.0, poll_s: float = 0.2) -> float:
        """Wait until ``service`` reports no request in flight.

        Returns:
            the seconds waited.

        Raises:
            TimeoutError: requests were still in flight after ``timeout_s`` seconds (a worker
                killed mid-request leaves its count behind; restart the service).
        """
        start = time.monotonic()
        deadline = start + timeout_s
        while True:
            inflight = self.health(service, max(1.0, deadline - time.monotonic()))["inflight"]
            if inflight == 0:
                return time.monotonic() - start
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{service} still has {inflight} requests in flight after "
                                   f"{timeout_s:.0f} s")
            time.sleep(poll_s)
