"""The configurations worth measuring for an app under its limits: bounded, each with the
reason it is there.

Per server family, its module's sizing (``Family.sized``) for what the app asks
(``sizing.Demand``: by Little's law, the requests in flight its CPUs need, from its measured
service time and CPU per request; the worker processes its memory holds). Beside them, the
popular sizing rules, computed on what the user's own container reported
(``os.cpu_count()``, its cpuset, quota and memory: ``sizing.RULES``) and measured
like any candidate; one the memory cannot hold is kept, marked, and measured on a closed
level only, to show what would happen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from packaging.utils import canonicalize_name

from wsgilab import families
from wsgilab.families import Family
from wsgilab.model import sizing

#: The most sync workers a candidate gets, whatever the memory (past this, a CPU-bound
#: worker count only adds memory: the lab's own sweep, claim 12).
MOST_SYNC_WORKERS = 16
#: The sizing rules whose pick the light form (CI) measures beside the law's: Cloud Run's
#: fixed 1 x 8 threads, the reference a wait-heavy app's sizing is compared with.
LIGHT_RULES = ("cloud-run",)
#: The wider sweep of one family's knobs (``make advise-sweep``), recorded once beside the
#: search to check it: the family sized for these multiples of the law's count (an eighth
#: to eight times: past the search's REFINE_UP twice over, where it may stop).
SWEEP_FACTORS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
#: Where a family's sizing barely follows the count, the sweep runs its first knob
#: (processes) from 1 to this many per core, within the memory.
SWEEP_PROCESSES_PER_CORE = 4
#: Fewer distinct configurations than this from the factors (sync workers capped by the
#: memory, a hub's connections at their default) and the sweep runs the processes too.
SWEEP_LEAST_POINTS = 3


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


def generate(demand: sizing.Demand, worker_mib: float, container: dict, light: bool = False,
             locks: tuple[str, ...] = ("servers",),
             exclude: frozenset[str] = frozenset()) -> list[Candidate]:
    """The candidates for an app's ``demand``: each server family sized to it
    (``Family.sized``), for the families whose server lock the app's image has, and the
    sizing rules' picks (``sizing.RULES``), each on what the container reported. The same
    command reached by several roads is one candidate with every reason.

    Args:
        demand: the requests in flight the app's CPUs need (Little's law), its cores and
            the processes its memory holds (at most MOST_SYNC_WORKERS).
        worker_mib: one worker process's memory with the app loaded, measured (MiB): the
            reason a rule's pick does not fit says it.
        container: what the user's container reported (``labinstrument.container``):
            the sizing rules read it.
        light: the light form (CI): the first candidate of each family marked ``light``,
            and the picks of LIGHT_RULES.
        locks: the server locks the app was staged with (``servers-eventlet`` where it
            asked for eventlet).
        exclude: families that cannot run the app here (their server has no wheel for the
            interpreter): neither sized nor a rule's pick.

    Returns:
        the candidates, in the order they are measured.
    """
    most = min(MOST_SYNC_WORKERS, demand.most_processes)
    demand = replace(demand, most_processes=most)
    found: dict[tuple, Candidate] = {}

    def add(candidate: Candidate) -> None:
        key = candidate.command
        if key in found:  # the same configuration by another road: keep both reasons
            old = found[key]
            found[key] = Candidate(old.name, old.family, old.command, old.why,
                                   tuple(dict.fromkeys(old.rules + candidate.rules)),
                                   old.servers, old.environment, old.fits, old.knobs)
        else:
            found[key] = candidate

    for family in offered(locks, light):
        if family.name in exclude:
            continue
        sized = family.sized(demand)
        for knobs, why in sized[:1] if light else sized:
            add(Candidate.of(family, knobs, why))
    for rule in sizing.RULES:
        if light and rule.name not in LIGHT_RULES:
            continue
        size = rule.size(container)
        if size.family in exclude:
            continue
        fits = size.workers <= most
        add(Candidate.of(families.get(size.family), size.knobs,
                         f"what {rule.name}'s rule ({rule.formula}) picks in this container"
                         + ("" if fits else f"; {size.workers} workers need more memory than the "
                                            f"limit holds ({most} at {worker_mib:.0f} MiB each)"),
                         rules=(rule.name,), fits=fits))
    return list(found.values())


def offered(locks: tuple[str, ...], light: bool = False) -> list[Family]:
    """The families the advisor sizes for an app staged with ``locks``: production servers
    (``Family.candidate``) whose server lock it has; in the light form only those marked
    ``light``."""
    return [f for f in families.registry().values()
            if f.candidate and f.requirements in locks and (f.light or not light)]


def resized(candidate: Candidate, demand: sizing.Demand, factor: float) -> Candidate | None:
    """``candidate``'s family sized for ``factor`` times the demand's requests in flight
    (its preferred form: the first ``sized`` entry with the same process count where there
    is one), or None where that is the same command (a family whose knobs do not follow
    the count: gevent's hub, sync workers the memory caps)."""
    family = families.get(candidate.family)
    scaled = demand.scaled(factor)
    options = family.sized(scaled)
    if not options:
        return None
    same_shape = [o for o in options if _processes(o[0]) == _processes(candidate.knobs)]
    knobs, why = (same_shape or options)[0]
    found = Candidate.of(family, knobs, f"{factor:g} x the law's count, measured: {why}")
    return None if found.command == candidate.command else found


def sweep(family: Family, demand: sizing.Demand) -> list[Candidate]:
    """The wider sweep of ``family``'s knobs around the app's demand, in the order measured
    (fewest in flight first): its sizing at each of SWEEP_FACTORS times the law's count;
    where that moves little (fewer than SWEEP_LEAST_POINTS configurations), its first
    knob (its processes) from 1 to SWEEP_PROCESSES_PER_CORE per core within the memory,
    the rest as sized.

    Raises:
        ValueError: the family sizes nothing for the demand (not a candidate family).
    """
    found: dict[tuple, Candidate] = {}
    for factor in SWEEP_FACTORS:
        for knobs, why in family.sized(demand.scaled(factor))[:1]:
            candidate = Candidate.of(family, knobs, f"the sweep, {factor:g} x the law's count: {why}")
            found.setdefault(candidate.command, candidate)
    if not found:
        raise ValueError(f"{family.name} sizes no configuration: it is not a candidate family")
    if len(found) < SWEEP_LEAST_POINTS:
        (knobs, why), = family.sized(demand)[:1]
        first = family.knobs[0]
        most = min(demand.most_processes, SWEEP_PROCESSES_PER_CORE * demand.cores)
        count = 1
        while count <= most:
            more = {**knobs, first.name: first.clamp(count)}
            candidate = Candidate.of(family, more, f"the sweep, {first.name} = {count}: {why}")
            found.setdefault(candidate.command, candidate)
            count *= 2
    return sorted(found.values(), key=lambda c: (_in_flight(c.knobs), c.name))


def _in_flight(knobs: dict) -> int:
    """The requests a configuration runs at once: its knobs' product (processes x threads
    or connections), the connections' default knob left out where threads set it."""
    values = [v for k, v in knobs.items() if k != "worker_connections" or "threads" not in knobs]
    return math.prod(values)


def _processes(knobs: dict) -> int | None:
    return knobs.get("workers", knobs.get("processes"))


def unavailable(left_out: dict[str, str], python: str) -> dict[str, str]:
    """The families an interpreter cannot run: those needing a distribution its staging
    left out (``pythons.Wheelhouse.left_out``: ``{"gevent==26.9.0": pip's words}``), each
    with pip's words: ``{"gunicorn-gevent": "gevent has no wheel for Python 3.13t: ..."}``."""
    missing = {canonicalize_name(pin.partition("==")[0]): why for pin, why in left_out.items()}
    found = {}
    for family in families.registry().values():
        lacking = [d for d in family.distributions if canonicalize_name(d) in missing]
        if lacking:
            found[family.name] = (f"{lacking[0]} has no wheel for Python {python}: "
                                  f"{missing[canonicalize_name(lacking[0])]}")
    return found
