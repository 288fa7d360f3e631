"""A configuration's facts, read back from where they are declared and where they run.

- declared limits: the compose model (compose/app.yml, via ``docker compose config``);
- applied limits: the running container's HostConfig, through the Docker SDK;
- server settings: what the server reports about itself on ``/<service>/healthz``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field

import docker

from . import compose
from .levels import cpuset_size
from .theory import Capacity

#: The lab's front end, published on loopback only (docker-compose.yml).
DEFAULT_BASE_URL = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class Limits:
    """A container's resource limits.

    Attributes:
        cpus: CPU quota in CPUs (CFS quota / period; 1.0 = one full core).
        cpuset: the cores the container may run on, e.g. ``"1"``.
        memory_bytes: memory limit in bytes.
        memswap_bytes: memory + swap limit in bytes (equal to memory_bytes: no swap).
        pids: the most tasks (processes and threads) the container may hold.
    """

    cpus: float
    cpuset: str
    memory_bytes: int
    memswap_bytes: int
    pids: int

    def describe(self) -> str:
        """Short form for tables: ``1 CPU (core 1), 256 MiB, 256 pids``."""
        cores = "core" if cpuset_size(self.cpuset) == 1 else "cores"
        return (f"{self.cpus:g} CPU ({cores} {self.cpuset}), "
                f"{self.memory_bytes // 2**20} MiB, {self.pids} pids")

    @property
    def cpuset_cpus(self) -> int:
        """How many cores the cpuset holds."""
        return cpuset_size(self.cpuset)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Limits:
        return cls(**data)


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


def applied_limits(host_config: dict) -> Limits:
    """The limits in a container's ``HostConfig`` (``docker inspect``); 0 where unset."""
    return Limits(
        cpus=(host_config.get("NanoCpus") or 0) / 1e9,
        cpuset=host_config.get("CpusetCpus") or "",
        memory_bytes=host_config.get("Memory") or 0,
        memswap_bytes=host_config.get("MemorySwap") or 0,
        pids=host_config.get("PidsLimit") or 0,
    )


def container(service: str, client: docker.DockerClient | None = None):
    """The running container of ``service`` in the lab's compose project.

    Raises:
        LookupError: no running container, or more than one.
    """
    client = client or docker.from_env()
    found = client.containers.list(filters={"label": [
        f"com.docker.compose.project={compose.project_name()}",
        f"com.docker.compose.service={service}",
    ]})
    if len(found) != 1:
        raise LookupError(f"expected one running container for {service}, found {len(found)}"
                          " (is the lab up? `make up`)")
    return found[0]


def health(service: str, base_url: str = DEFAULT_BASE_URL, timeout_s: float = 10.0) -> dict:
    """``GET /<service>/healthz`` through nginx: ``{"status", "inflight", "server"}``.

    Raises:
        ConnectionError: no 200 answer within ``timeout_s`` seconds.
    """
    url = f"{base_url}/{service}/healthz"
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


@dataclass(frozen=True)
class Configuration:
    """One measured configuration as it runs: command, limits, server settings, model.

    Attributes:
        service: the compose service.
        command: the command its container runs.
        limits: its limits as the engine applied them (``HostConfig``).
        settings: what its server reports about itself (``/healthz`` ``server``).
        capacity: the model those settings give (``wsgilab.servers``).
        container: what the app sees inside the container (``/healthz`` ``container``):
            CPU counts, CFS quota, memory and pids limits (``labapp.container``).
        runtime: the app process's own report (``/healthz`` ``runtime``): which coroutine
            library patched it (``patched_by``) and its database pool's size.
    """

    service: str
    command: list[str]
    limits: Limits
    settings: dict
    capacity: Capacity
    container: dict = field(default_factory=dict)
    runtime: dict = field(default_factory=dict)

    def facts(self, backend: dict | None = None):
        """What a workload's expectation rule reads (``workloads.base.Facts``), with what
        the workload read of its backend (``Workload.backend``)."""
        from .workloads.base import Facts

        return Facts(capacity=self.capacity, settings=self.settings,
                     cpus=self.limits.cpus or None, cpuset_cpus=self.limits.cpuset_cpus,
                     memory_bytes=self.limits.memory_bytes, pids=self.limits.pids,
                     container=self.container, runtime=self.runtime, backend=backend or {})

    def to_dict(self) -> dict:
        return {"service": self.service, "command": self.command,
                "limits": self.limits.to_dict(), "settings": self.settings,
                "capacity": self.capacity.to_dict(), "container": self.container,
                "runtime": self.runtime}

    @classmethod
    def from_dict(cls, data: dict) -> Configuration:
        return cls(service=data["service"], command=data["command"],
                   limits=Limits.from_dict(data["limits"]), settings=data["settings"],
                   capacity=Capacity.from_dict(data["capacity"]),
                   container=data.get("container", {}), runtime=data.get("runtime", {}))


def discover(service: str, base_url: str = DEFAULT_BASE_URL,
             client: docker.DockerClient | None = None) -> Configuration:
    """Read ``service``'s facts from the running lab.

    Raises:
        LookupError: the container is not running.
        ConnectionError: the service does not answer its health check through nginx.
        theory.UnknownServer: the server it reports has no adapter or theory.
    """
    from . import servers

    ctr = container(service, client)
    answer = wait_reachable(service, base_url)
    return Configuration(
        service=service,
        command=list(ctr.attrs["Config"]["Cmd"] or []),
        limits=applied_limits(ctr.attrs["HostConfig"]),
        settings=answer["server"],
        capacity=servers.model(answer["server"]),
        container=answer.get("container", {}),
        runtime=answer.get("runtime", {}),
    )
