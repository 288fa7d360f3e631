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
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

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
