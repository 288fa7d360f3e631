"""A configuration's facts as plain types: what a record holds, loadable without Docker.

``Limits`` (a container's resource limits) and ``Configuration`` (command, limits, the
server's reported settings, its capacity model, what the app saw inside the container)
are read from the running lab (``wsgilab.lab.session.LabSession.serving``) and written
into every level's record; the report and the claims read them back from ``bench.json``
with nothing but the standard library.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from wsgilab.model.levels import cpuset_size
from wsgilab.model.theory import Capacity


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
        """Short form for tables: ``1 CPU (core 1), 256 MiB, 256 pids``; with no cpuset
        (a swarm's), ``1 CPU (any core)``."""
        if self.cpuset:
            where = f"{'core' if cpuset_size(self.cpuset) == 1 else 'cores'} {self.cpuset}"
        else:
            where = "any core"
        return f"{self.cpus:g} CPU ({where}), {self.memory_bytes // 2**20} MiB, {self.pids} pids"

    @property
    def cpuset_cpus(self) -> int:
        """How many cores the cpuset holds (0: none set, a swarm's: any core)."""
        return cpuset_size(self.cpuset) if self.cpuset else 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Limits:
        return cls(**data)


def applied_limits(host_config: dict) -> Limits:
    """The limits in a container's ``HostConfig`` (``docker inspect``); 0 where unset."""
    return Limits(
        cpus=(host_config.get("NanoCpus") or 0) / 1e9,
        cpuset=host_config.get("CpusetCpus") or "",
        memory_bytes=host_config.get("Memory") or 0,
        memswap_bytes=host_config.get("MemorySwap") or 0,
        pids=host_config.get("PidsLimit") or 0,
    )


@dataclass(frozen=True)
class Facts:
    """A configuration as it ran for one level: what its expectation rule may read.

    Attributes:
        capacity: the model its server's reported settings give (``wsgilab.families``).
        settings: the server's settings as it reported them.
        cpus: the container's CPU quota in CPUs (None: none); cpuset_cpus: its cores.
        memory_bytes, pids: its memory and pids limits.
        container: what the app sees inside (``/_lab/health`` ``container``).
        runtime: the answering process's runtime (``patched_by``, its Python, its GIL).
        app: what the application reports about itself (its ``lab_facts``: the demo app's
            ``db_pool_size``).
        processes: every serving process's runtime facts, by pid.
        backend: what the workload read of its backend before the level
            (``Workload.backend``), e.g. the database's ``max_connections``.
    """

    capacity: Capacity
    settings: dict
    cpus: float | None
    cpuset_cpus: int
    memory_bytes: int
    pids: int
    container: dict = field(default_factory=dict)
    runtime: dict = field(default_factory=dict)
    app: dict = field(default_factory=dict)
    processes: dict = field(default_factory=dict)
    backend: dict = field(default_factory=dict)


def gil_off(answer: dict) -> bool:
    """Whether a health answer (``/_lab/health``) says the GIL is off in every process that
    loaded the app (a free-threaded build where no extension turned it back on)."""
    processes = answer.get("processes") or {}
    return bool(processes) and not any(p.get("gil_enabled", True) for p in processes.values())


@dataclass(frozen=True)
class Configuration:
    """One measured configuration as it runs: command, limits, server settings, model.

    Attributes:
        service: the compose service.
        command: the command its container runs.
        limits: its limits as the engine applied them (``HostConfig``).
        settings: what its server reports about itself (``/_lab/health`` ``server``).
        capacity: the model those settings give (``wsgilab.families``).
        container: what the app sees inside the container (``/_lab/health`` ``container``):
            CPU counts, CFS quota, memory and pids limits (``labinstrument.container``).
        runtime: the answering process's runtime (``runtime`` of the health answer):
            which coroutine library patched it (``patched_by``), its Python, its GIL.
        app: what the application reports about itself (its ``lab_facts``), e.g. the
            demo app's database pool size.
        processes: every serving process's runtime facts, by pid, recorded after it
            loaded the app (``labinstrument.processes``).
    """

    service: str
    command: list[str]
    limits: Limits
    settings: dict
    capacity: Capacity
    container: dict = field(default_factory=dict)
    runtime: dict = field(default_factory=dict)
    app: dict = field(default_factory=dict)
    processes: dict = field(default_factory=dict)

    def facts(self, backend: dict | None = None) -> Facts:
        """What a workload's expectation rule reads (``Facts``), with what the workload
        read of its backend (``Workload.backend``)."""
        return Facts(capacity=self.capacity, settings=self.settings,
                     cpus=self.limits.cpus or None,
                     # No cpuset (a swarm's): the cores its processes may run on, as read
                     # inside (sched_getaffinity).
                     cpuset_cpus=(self.limits.cpuset_cpus
                                  or int(self.container.get("affinity_cpus") or 0)),
                     memory_bytes=self.limits.memory_bytes, pids=self.limits.pids,
                     container=self.container, runtime=self.runtime, app=self.app,
                     processes=self.processes, backend=backend or {})

    def to_dict(self) -> dict:
        return {"service": self.service, "command": self.command,
                "limits": self.limits.to_dict(), "settings": self.settings,
                "capacity": self.capacity.to_dict(), "container": self.container,
                "runtime": self.runtime, "app": self.app, "processes": self.processes}

    @classmethod
    def from_dict(cls, data: dict) -> Configuration:
        return cls(service=data["service"], command=data["command"],
                   limits=Limits.from_dict(data["limits"]), settings=data["settings"],
                   capacity=Capacity.from_dict(data["capacity"]),
                   container=data.get("container", {}), runtime=data.get("runtime", {}),
                   app=data.get("app", {}), processes=data.get("processes", {}))
