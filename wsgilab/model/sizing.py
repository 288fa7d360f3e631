"""The worker-count rules people follow, evaluated on what a container sees.

Each rule reads the numbers its source reads (``labinstrument.container.facts`` reports them from
inside the container; ``facts_for`` predicts them for a container the bench is about to
start, and the bench records both):

- **gunicorn** ``2 x cores + 1`` with cores from ``os.cpu_count()`` /
  ``multiprocessing.cpu_count()``, as gunicorn's docs (``design.md``, "How Many Workers?")
  and the config files that follow them write it. ``os.cpu_count()`` is the host's count:
  neither cpuset nor CFS quota lowers it (gunicorn #2028; CPython #149452).
- **Heroku** (heroku-buildpack-python ``vendor/WEB_CONCURRENCY.sh``):
  ``min(2 x nproc + 1, memory MB // 256)``, at least 1; ``nproc`` counts the cpuset
  (affinity), memory is cgroup v1 ``memory.limit_in_bytes``.
- **Cloud Run** (Google Cloud Run docs, Python quickstart Dockerfile):
  ``gunicorn --workers 1 --threads 8``, whatever the container.
- **Functions Framework** (GoogleCloudPlatform/functions-framework-python,
  ``_http/gunicorn.py``): ``workers 1``, ``threads = os.cpu_count() x 4``.

Beside the rules, what the app itself asks for (``Demand``): by Little's law, the requests
it must have in flight to keep its CPUs busy, from its measured service time and CPU per
request. The advisor sizes each server family to it (``Family.sized``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

#: Room kept free of the memory limit when sizing worker counts: what a request
#: allocates while it runs, beyond a worker's memory at rest.
MEMORY_HEADROOM = 0.25
#: Memory the container needs besides its workers, MiB: the master process and the
#: healthcheck (measured: an idle gunicorn arbiter of a small app, about 20 MiB).
MEMORY_BASE_MIB = 32
#: Heroku's floor of memory per process (WEB_CONCURRENCY.sh ``minimum_memory_per_process_in_mb``).
HEROKU_MB_PER_PROCESS = 256


@dataclass(frozen=True)
class Sizing:
    """What a rule asks for: a worker count, and threads per worker (1 for sync)."""

    workers: int
    threads: int = 1

    @property
    def worker_class(self) -> str:
        return "gthread" if self.threads > 1 else "sync"

    @property
    def family(self) -> str:
        """The server family that runs it (``wsgilab.families``): the rules are gunicorn's."""
        return f"gunicorn-{self.worker_class}"

    @property
    def knobs(self) -> dict[str, int]:
        """Its family's knob values."""
        return ({"workers": self.workers, "threads": self.threads} if self.threads > 1
                else {"workers": self.workers})

    def describe(self) -> str:
        if self.threads > 1:
            return f"{self.workers} x {self.threads} threads"
        return f"{self.workers} sync worker{'s' if self.workers > 1 else ''}"


#: The most requests in flight the advisor sizes a family for: every thread is a stack and
#: a pid (the candidates' pids limit is 256), and past this the convoy of threads waiting
#: for one GIL, not the count, sets the latency (issue 24's app: a wall at 58 req/s with
#: 16, 24 or 32 threads alike).
MOST_IN_FLIGHT = 128
#: The least CPU per request (ms) Little's law divides by: a request that measures less
#: is at the resolution of the cgroup's CPU counter over a short level.
LEAST_CPU_MS = 0.2


@dataclass(frozen=True)
class Demand:
    """What an app asks of a server: requests in flight enough to keep its CPUs busy.

    By Little's law (L = lambda x W; J. D. C. Little, Operations Research 9(3), 1961): at
    full use of ``cpus`` CPUs the app serves ``cpus / C`` requests a second (C: CPU per
    request, seconds), each in the app for ``S`` (its service time), so
    ``cpus x S / C`` requests are in flight. An app whose requests wait 200 ms and burn
    10 ms of CPU needs 20 in flight in 1 CPU; one that only computes (S = C) needs one
    per CPU.

    Attributes:
        cpus: the CPU quota (CPUs).
        service_ms: S, one request's time in the app alone (ms), measured.
        cpu_ms: C, one request's CPU (ms), measured.
        most_processes: the worker processes the memory limit holds (``most_workers``).
        in_flight: the requests in flight to size for (``of`` computes it by the law;
            the advisor's search scales it).
    """

    cpus: float
    service_ms: float
    cpu_ms: float
    most_processes: int
    in_flight: int

    @classmethod
    def of(cls, cpus: float, service_ms: float, cpu_ms: float, most_processes: int) -> Demand:
        """The demand by Little's law: ``ceil(cpus x S / C)`` in flight, at least one per
        core, at most MOST_IN_FLIGHT; C at least LEAST_CPU_MS.

        Raises:
            ValueError: a service time or CPU quota that is not positive.
        """
        if not (cpus > 0 and service_ms > 0):
            raise ValueError(f"a demand needs CPUs and a service time above 0, got {cpus}, "
                             f"{service_ms} ms")
        law = math.ceil(cpus * service_ms / max(cpu_ms, LEAST_CPU_MS))
        cores = max(1, math.ceil(cpus))
        return cls(cpus, service_ms, cpu_ms, most_processes,
                   min(MOST_IN_FLIGHT, max(cores, law)))

    @property
    def cores(self) -> int:
        """The cores the quota spans: a process each keeps them busy."""
        return max(1, math.ceil(self.cpus))

    @property
    def processes(self) -> int:
        """Worker processes for a family that runs several requests in each: one per core,
        as many as the memory holds (at least one)."""
        return max(1, min(self.cores, self.most_processes))

    @property
    def cpu_bound_rps(self) -> float:
        """What the CPUs serve at most (req/s): ``cpus / C``."""
        return self.cpus * 1000.0 / max(self.cpu_ms, LEAST_CPU_MS)

    def per_process(self, processes: int) -> int:
        """Requests in flight each of ``processes`` runs to hold ``in_flight`` in all."""
        return math.ceil(self.in_flight / processes)

    def scaled(self, factor: float) -> Demand:
        """The same app sized for ``factor`` times the requests in flight (the advisor's
        search around the law), at least one per core, at most MOST_IN_FLIGHT."""
        return replace(self, in_flight=min(MOST_IN_FLIGHT,
                                           max(self.cores, round(self.in_flight * factor))))

    def describe(self) -> str:
        return (f"{self.in_flight} in flight = {self.cpus:g} CPU x {self.service_ms:.1f} ms in "
                f"the app / {self.cpu_ms:.1f} ms of CPU a request (Little's law)")

    def to_dict(self) -> dict:
        return {"cpus": self.cpus, "service_ms": self.service_ms, "cpu_ms": self.cpu_ms,
                "most_processes": self.most_processes, "in_flight": self.in_flight,
                "cpu_bound_rps": self.cpu_bound_rps}

    @classmethod
    def from_dict(cls, data: dict) -> Demand:
        return cls(data["cpus"], data["service_ms"], data["cpu_ms"], data["most_processes"],
                   data["in_flight"])


@dataclass(frozen=True)
class Rule:
    """A sizing rule: its name, formula in words, source, and function of container facts."""

    name: str
    formula: str
    source: str
    size: Callable[[dict], Sizing]


def _gunicorn(facts: dict) -> Sizing:
    return Sizing(2 * facts["os_cpu_count"] + 1)


def _heroku(facts: dict) -> Sizing:
    by_cpu = 2 * facts["affinity_cpus"] + 1
    memory = facts.get("memory_limit_bytes")
    if memory is None:
        return Sizing(by_cpu)
    by_memory = max(1, memory // 2**20 // HEROKU_MB_PER_PROCESS)
    return Sizing(min(by_cpu, by_memory))


def _cloud_run(facts: dict) -> Sizing:
    return Sizing(1, 8)


def _functions_framework(facts: dict) -> Sizing:
    return Sizing(1, 4 * facts["os_cpu_count"])


RULES = (
    Rule("gunicorn", "2 x os.cpu_count() + 1", "gunicorn docs, design.md", _gunicorn),
    Rule("heroku", "min(2 x nproc + 1, memory MB / 256)",
         "heroku-buildpack-python vendor/WEB_CONCURRENCY.sh", _heroku),
    Rule("cloud-run", "1 worker x 8 threads", "Cloud Run docs, Python quickstart", _cloud_run),
    Rule("functions-framework", "1 worker x 4 x os.cpu_count() threads",
         "functions-framework-python _http/gunicorn.py", _functions_framework),
)


def facts_for(os_cpu_count: int, cpuset_cpus: int, quota_cpus: float | None,
              memory_bytes: int | None) -> dict:
    """What a container with these limits will report (``labinstrument.container.facts``).

    ``os.cpu_count()`` inside a container is the host's count, so it is passed in.
    """
    return {"os_cpu_count": os_cpu_count, "affinity_cpus": cpuset_cpus,
            "cfs_quota_cpus": quota_cpus, "memory_limit_bytes": memory_bytes}


def most_workers(memory_bytes: int, worker_mib: float) -> int:
    """The most worker processes the memory limit holds at ``worker_mib`` each, with
    MEMORY_HEADROOM kept free and MEMORY_BASE_MIB for the rest of the container."""
    usable = memory_bytes / 2**20 * (1 - MEMORY_HEADROOM) - MEMORY_BASE_MIB
    return max(0, math.floor(usable / max(worker_mib, 1.0)))
