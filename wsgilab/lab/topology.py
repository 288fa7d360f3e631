"""A configuration's facts, read back from where they are declared and where they run.

- declared limits: the compose model (compose/app.yml, via ``docker compose config``);
- applied limits: the running container's HostConfig, through the Docker SDK;
- server settings: what the server reports about itself on the instrument's health
  endpoint, ``/<service>/_lab/health``.

The plain types these fill (``Limits``, ``Configuration``) live in ``wsgilab.model.facts``, so
that a record loads without the Docker SDK; this module imports it only when it talks to
the engine.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from wsgilab.lab import compose
from wsgilab.model.facts import Configuration, Limits, applied_limits
from wsgilab.model.theory import without_gil

__all__ = ["Configuration", "Limits", "applied_limits", "declared_limits", "container",
           "health", "wait_reachable", "wait_drained", "wait_idle", "discover",
           "DEFAULT_BASE_URL"]

#: The lab's front end, published on loopback only (docker-compose.yml).
DEFAULT_BASE_URL = "http://127.0.0.1:8080"


def declared_limits(service: str, env: dict[str, str] | None = None) -> Limits:
    """The limits the compose model declares for ``service`` (with ``env`` applied to
    its variables, as ``docker compose`` would see them).

    Raises:
        KeyError: the service, or one of its limits, is not declared.
    """
    svc = compose.config(env)["services"][service]
    limits = svc["deploy"]["resources"]["limits"]
    return Limits(
        cpus=float(limits["cpus"]),
        cpuset=str(svc["cpuset"]),
        memory_bytes=int(limits["memory"]),
        memswap_bytes=int(svc["memswap_limit"]),
        pids=int(limits["pids"]),
    )


def container(service: str, client=None):
    """The running container of ``service`` in the lab's compose project.

    Raises:
        LookupError: no running container, or more than one.
    """
    if client is None:
        import docker

        client = docker.from_env()
    found = client.containers.list(filters={"label": [
        f"com.docker.compose.project={compose.project_name()}",
        f"com.docker.compose.service={service}",
    ]})
    if len(found) != 1:
        raise LookupError(f"expected one running container for {service}, found {len(found)}"
                          " (is the lab up? `make up`)")
    return found[0]


#: The instrument's health endpoint, under its reserved prefix (services/instrument/
#: labinstrument/health.py HEALTH_PATH; a unit test keeps the two equal).
HEALTH_PATH = "/_lab/health"


def health(service: str, base_url: str = DEFAULT_BASE_URL, timeout_s: float = 10.0) -> dict:
    """``GET /<service>/_lab/health`` through nginx: the instrument's ``health.report``
    (``status``, ``inflight``, ``server``, ``container``, ``runtime``, ``processes``, ``app``).

    Raises:
        ConnectionError: no 200 answer within ``timeout_s`` seconds.
    """
    url = f"{base_url}/{service}{HEALTH_PATH}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return json.load(resp)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ConnectionError(f"{url} did not answer: {exc}") from exc


def wait_reachable(service: str, base_url: str = DEFAULT_BASE_URL,
                   timeout_s: float = 30.0, poll_s: float = 0.25) -> dict:
    """Wait until ``service`` answers its health check through nginx; return the answer.

    A recreated container may take a new address that nginx's resolver learns within its
    ``valid`` time (services/nginx/nginx.conf), so the first probes may fail.

    Raises:
        ConnectionError: no answer within ``timeout_s`` seconds.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return health(service, base_url, timeout_s=5.0)
        except ConnectionError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(poll_s)


def wait_drained(service: str, base_url: str = DEFAULT_BASE_URL,
                 timeout_s: float = 60.0, poll_s: float = 0.2) -> float:
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
        inflight = health(service, base_url, timeout_s=max(1.0, deadline - time.monotonic()))["inflight"]
        if inflight == 0:
            return time.monotonic() - start
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{service} still has {inflight} requests in flight after {timeout_s:.0f} s")
        time.sleep(poll_s)


#: A container counts as idle below this many CPUs (a few per cent of one: idle servers'
#: timers and healthchecks).
IDLE_CPUS = 0.05


def wait_idle(ctr, timeout_s: float = 60.0, window_s: float = 0.5) -> float:
    """Wait until a container's CPU use falls below IDLE_CPUS over ``window_s``.

    A server answers its healthcheck as soon as one worker is up, while the others may
    still be importing the app (about a second of CPU each here): a level that starts then
    would share its CPU with their start-up.

    Returns:
        the seconds waited.

    Raises:
        TimeoutError: still busy after ``timeout_s`` seconds.
    """
    start = time.monotonic()
    while True:
        a = ctr.stats(stream=False, one_shot=True)["cpu_stats"]["cpu_usage"]["total_usage"]
        t0 = time.monotonic()
        time.sleep(window_s)
        b = ctr.stats(stream=False, one_shot=True)["cpu_stats"]["cpu_usage"]["total_usage"]
        if (b - a) / 1e9 / (time.monotonic() - t0) < IDLE_CPUS:
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"{ctr.name} still busy after {timeout_s:.0f} s")


def gil_off(answer: dict) -> bool:
    """Whether a health answer (``/_lab/health``) says the GIL is off in every process that
    loaded the app (a free-threaded build where no extension turned it back on)."""
    processes = answer.get("processes") or {}
    return bool(processes) and not any(p.get("gil_enabled", True) for p in processes.values())


def discover(service: str, base_url: str = DEFAULT_BASE_URL, client=None) -> Configuration:
    """Read ``service``'s facts from the running lab.

    Raises:
        LookupError: the container is not running.
        ConnectionError: the service does not answer its health check through nginx.
        theory.UnknownServer: the server it reports has no adapter or theory.
    """
    from wsgilab import families as servers

    ctr = container(service, client)
    answer = wait_reachable(service, base_url)
    capacity = servers.model(answer["server"])
    if gil_off(answer):
        capacity = without_gil(capacity)
    return Configuration(
        service=service,
        command=list(ctr.attrs["Config"]["Cmd"] or []),
        limits=applied_limits(ctr.attrs["HostConfig"]),
        settings=answer["server"],
        capacity=capacity,
        container=answer.get("container", {}),
        runtime=answer.get("runtime", {}),
        app=answer.get("app", {}),
        processes=answer.get("processes", {}),
    )
