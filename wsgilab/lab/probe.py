"""The instrument's endpoint, asked over HTTP through the front end: ``/<service>/_lab/``.

Every configuration's container runs the app under the lab's instrument
(``services/instrument/labinstrument``), which answers ``/_lab/health`` with what the lab
reads about it: requests in flight, the server's resolved settings, the container's
limits as the app sees them, its runtime, its processes. A ``Probe`` asks it through nginx
on 127.0.0.1, the way the load goes; it needs no engine. The backends that keep a count of
their own (the upstream service) answer under the front end's ``/_lab/<backend>/`` the
same way. Every container's agent (``labinstrument.agent``, a process of its own beside the
server) answers its cgroup's counters under ``/_lab/<container>/cgroup``: the CPU, memory and
tasks the lab records per level are read there, not through the engine, so they read the
same wherever the container runs.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

#: A container counts as idle below this many CPUs (a few per cent of one: idle servers'
#: timers and healthchecks).
IDLE_CPUS = 0.05

#: The lab's front end, published on loopback only (docker-compose.yml).
DEFAULT_BASE_URL = "http://127.0.0.1:8080"
#: The instrument's health endpoint, under its reserved prefix (services/instrument/
#: labinstrument/health.py HEALTH_PATH; a unit test keeps the two equal).
HEALTH_PATH = "/_lab/health"
#: Where the front end answers for the backends' own counts (``/_lab/<backend>/stats``) and
#: for every container's agent (``/_lab/<container>/<route>``): services/nginx/nginx.conf.
BACKENDS_PATH = "/_lab"
#: The agent's port in each container (services/instrument/labinstrument/agent.py PORT; a
#: unit test keeps the two equal, and nginx.conf proxies to it).
AGENT_PORT = 9000


@dataclass(frozen=True)
class Snapshot:
    """A container's counters at one instant, as its agent read them from its cgroup.

    Attributes:
        cpu_ns: CPU time used since it started, nanoseconds.
        throttled_periods: CFS periods in which its quota stopped it.
        memory_bytes, memory_max_bytes: memory in use, and the most it used.
        pids: tasks (processes and threads) it holds.
        taken_ns: the agent's monotonic clock when it read them, nanoseconds (0: not
            known): a rate between two snapshots is over this clock's interval, not over
            the time their answers took to arrive (an agent on a CPU-bound, throttled
            container may answer a CFS period late).
    """

    cpu_ns: int
    throttled_periods: int = 0
    memory_bytes: int = 0
    memory_max_bytes: int = 0
    pids: int = 0
    taken_ns: int = 0

    def cpus_since(self, before: Snapshot, fallback_s: float) -> float:
        """CPUs used from ``before`` to this snapshot: CPU time over the agent's own
        interval (``fallback_s`` seconds where either was not timed)."""
        interval_s = ((self.taken_ns - before.taken_ns) / 1e9
                      if self.taken_ns and before.taken_ns else fallback_s)
        return (self.cpu_ns - before.cpu_ns) / 1e9 / interval_s


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

    def agent(self, container: str, route: str, timeout_s: float = 10.0, **params) -> dict:
        """``GET /_lab/<container>/<route>?<params>`` through nginx: what ``container``'s
        agent answers (``labinstrument.agent``: ``cgroup``; the database's
        ``postgres/settings``, ``postgres/active``).

        Raises:
            ConnectionError: no 200 answer within ``timeout_s`` seconds.
        """
        query = urllib.parse.urlencode(params)
        return _answer(f"{self.base_url}{BACKENDS_PATH}/{container}/{route}"
                       + (f"?{query}" if query else ""), "GET", timeout_s)

    def counters(self, container: str, timeout_s: float = 5.0) -> Snapshot:
        """``container``'s cgroup counters now, from its agent.

        Raises:
            ConnectionError: no answer within ``timeout_s`` seconds.
        """
        answer = self.agent(container, "cgroup", timeout_s)
        return Snapshot(**{name: int(answer.get(name, 0)) for name in Snapshot.__dataclass_fields__})

    def wait_idle(self, container: str, timeout_s: float = 60.0, window_s: float = 0.5) -> float:
        """Wait until ``container`` uses fewer than IDLE_CPUS over ``window_s``.

        A server answers its healthcheck as soon as one worker is up, while the others may
        still be importing the app (about a second of CPU each here): a level that starts
        then would share its CPU with their start-up.

        Returns:
            the seconds waited.

        Raises:
            TimeoutError: still busy after ``timeout_s`` seconds.
            ConnectionError: its agent did not answer.
        """
        start = time.monotonic()
        while True:
            a = self.counters(container)
            t0 = time.monotonic()
            time.sleep(window_s)
            b = self.counters(container)
            if b.cpus_since(a, time.monotonic() - t0) < IDLE_CPUS:
                return time.monotonic() - start
            if time.monotonic() - start > timeout_s:
                raise TimeoutError(f"{container} still busy after {timeout_s:.0f} s")

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
