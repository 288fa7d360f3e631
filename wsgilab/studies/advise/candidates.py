"""The configurations worth measuring for an app under its limits: bounded, each with the
reason it is there.

Per server family, from the limits (CPUs, memory) and what the smoke pass measured (the
app's memory per worker process): sync workers up to what memory allows, gthread workers
x threads, gevent, uWSGI processes x threads, waitress threads, granian workers x blocking
threads. Beside them, the popular sizing rules, computed on what the user's own container
reported (``os.cpu_count()``, its cpuset, quota and memory: ``sizing.RULES``) and measured
like any candidate; one the memory cannot hold is kept, marked, and measured on a closed
level only, to show what would happen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from wsgilab import families
from wsgilab.families import Family
from wsgilab.model import sizing

#: The most sync workers a candidate gets, whatever the memory (past this, a CPU-bound
#: worker count only adds memory: the lab's own sweep, claim 12).
MOST_SYNC_WORKERS = 16
#: Threads per gthread worker, and blocking threads per granian worker: Cloud Run's and
#: granian's own examples' count.
THREADS = 8


@dataclass(frozen=True)
class Candidate:
    """One configuration to measure: a server family at knob values.

    Attributes:
        name: its compose service's name in the app's project (``gthread-1x8``).
        family: its server family's name (``families.get``).
        knobs: the family's knob values (``Family.knobs``).
        command: the container's command (the instrument's entry point as the app).
        why: why it is a candidate.
        rules: the sizing rules that pick exactly it.
        servers: the server lock of its image (the family's ``requirements``).
        environment: variables it needs beside the app's (gevent's monitor).
        fits: whether its workers fit the memory limit at the measured memory per worker;
            one that does not is measured on a closed level only.
    """

    name: str
    family: str
    command: tuple[str, ...]
    why: str
    rules: tuple[str, ...] = ()
    servers: str = "servers"
    environment: dict = field(default_factory=dict)
    fits: bool = True
    knobs: dict = field(default_factory=dict)

    @classmethod
    def of(cls, family: Family, knobs: dict, why: str, rules: tuple[str, ...] = (),
           fits: bool = True) -> Candidate:
        """``family`` at ``knobs``: its command, name, image lock and environment."""
        return cls(family.label(knobs), family.name, family.command(knobs), why, rules,
                   family.requirements, dict(family.environment), fits, dict(knobs))

    def to_dict(self) -> dict:
        return {"name": self.name, "family": self.family, "knobs": self.knobs,
                "command": list(self.command), "why": self.why, "rules": list(self.rules),
                "servers": self.servers, "environment": self.environment, "fits": self.fits}

    @classmethod
    def from_dict(cls, data: dict) -> Candidate:
        """A candidate as a record kept it; records before families had names give the
        family's title, and no knobs (read back from the command)."""
        family = families.get(data["family"])
        knobs = data.get("knobs") or family.knobs_of(families.declared(data["command"]))
        return cls(name=data["name"], family=family.name, command=tuple(data["command"]),
                   why=data["why"], rules=tuple(data.get("rules", ())),
                   servers=data.get("servers", "servers"),
                   environment=data.get("environment", {}), fits=data.get("fits", True),
                   knobs=knobs)


def generate(cpus: float, memory_bytes: int, worker_mib: float, container: dict,
             light: bool = False, eventlet: bool = False) -> list[Candidate]:
    """The candidates for an app under ``cpus`` (quota) and ``memory_bytes``.

    Sync workers: 2 x cores + 1 (gunicorn's rule on the quota's cores) and the most the
    memory holds (up to MOST_SYNC_WORKERS), where they differ; one gthread process of
    THREADS threads, and one process of THREADS / 2 per core where there are more cores;
    a gevent worker per core; uWSGI processes x threads; waitress; granian; and the
    sizing rules' picks (``sizing.RULES``), each on what the container reported. The same
    command reached by several roads is one candidate with every reason.

    Args:
        cpus: the CPU quota (CPUs); cores = its ceiling.
        memory_bytes: the memory limit.
        worker_mib: one worker process's memory with the app loaded, measured (MiB).
        container: what the user's container reported (``labinstrument.container``):
            the sizing rules read it.
        light: the light form (CI): one sync and one gthread candidate.
        eventlet: add gunicorn's eventlet worker (its own image).

    Returns:
        the candidates, in the order they are measured.
    """
    cores = max(1, math.ceil(cpus))
    most = min(MOST_SYNC_WORKERS, sizing.most_workers(memory_bytes, worker_mib))
    found: dict[tuple, Candidate] = {}
    sync, gthread = families.get("gunicorn-sync"), families.get("gunicorn-gthread")

    def add(candidate: Candidate) -> None:
        key = candidate.command
        if key in found:  # the same configuration by another road: keep both reasons
            old = found[key]
            found[key] = Candidate(old.name, old.family, old.command, old.why,
                                   tuple(dict.fromkeys(old.rules + candidate.rules)),
                                   old.servers, old.environment, old.fits, old.knobs)
        else:
            found[key] = candidate

    sync_counts = sorted({max(1, min(most, n)) for n in (2 * cores + 1, most)})
    if light:
        sync_counts = sync_counts[:1]
    for n in sync_counts:
        add(Candidate.of(sync, {"workers": n},
                         f"{n} sync worker{'s' if n > 1 else ''}: one request each "
                         f"(memory holds {most} at {worker_mib:.0f} MiB each)"))
    add(Candidate.of(gthread, {"workers": 1, "threads": THREADS},
                     f"one process of {THREADS} threads: waiting requests share one GIL"))
    if light:
        return list(found.values())
    if cores > 1:
        add(Candidate.of(gthread, {"workers": cores, "threads": THREADS // 2,
                                   "worker_connections": THREADS // 2},
                         "a process per CPU, each with threads; --worker-connections = threads "
                         "so that every thread is sustained (benoitc/gunicorn#3433)"))
    add(Candidate.of(families.get("gunicorn-gevent"), {"workers": cores, "worker_connections": 1000},
                     "greenlets: every request waiting on patched sockets at once"))
    if eventlet:
        add(Candidate.of(families.get("gunicorn-eventlet"),
                         {"workers": cores, "worker_connections": 1000},
                         "eventlet's green threads (the app asked for them)"))
    add(Candidate.of(families.get("uwsgi-threads"), {"processes": cores, "threads": THREADS // 2},
                     "uWSGI's threads accept only when free"))
    add(Candidate.of(families.get("waitress"), {"threads": THREADS},
                     "one process of threads behind waitress's own event loop"))
    add(Candidate.of(families.get("granian"), {"workers": cores, "blocking_threads": THREADS},
                     "granian's Rust I/O, the app on blocking threads"))
    for rule in sizing.RULES:
        size = rule.size(container)
        fits = size.workers <= most
        family = gthread if size.threads > 1 else sync
        knobs = ({"workers": size.workers, "threads": size.threads} if size.threads > 1
                 else {"workers": size.workers})
        add(Candidate.of(family, knobs,
                         f"what {rule.name}'s rule ({rule.formula}) picks in this container"
                         + ("" if fits else f"; {size.workers} workers need more memory than the "
                                            f"limit holds ({most} at {worker_mib:.0f} MiB each)"),
                         rules=(rule.name,), fits=fits))
    return list(found.values())
