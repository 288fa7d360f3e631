"""A bench level: (configuration, workload, load), typed.

Every part of the lab that names a level (the bench, its record, the table, the report,
the CLI and the tests) goes through ``Level``; its ``slug`` names the level's files
(``results/<run>/<configuration>/<slug>.*``) and its ``test_id`` the tests.

A level may run its configuration under a ``Variant``: other resource limits (a CPU quota,
a cpuset, a memory or pids limit) or another value of a setting its compose command takes
from a variable (``--workers ${GUNICORN_SYNC_WORKERS:-4}``). The bench applies a variant by
recreating the configuration's container with those values, and reads back what runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from wsgilab.model import interpreters
from wsgilab.model.load import CLOSED, Closed, Load
from wsgilab.model.load import from_dict as load_from_dict

#: Limits a variant may set, and the compose variables of compose/app.yml that carry them.
LIMIT_VARIABLES = {"cpus": "APP_CPUS", "cpuset": "APP_CPUSET", "memory": "APP_MEMORY",
                   "pids": "APP_PIDS"}
#: Switches of compose/app.yml a variant may turn on: the fault scenarios' only.
SWITCHES = {"allow_alloc": "APP_ALLOW_ALLOC"}
_MEMORY = re.compile(r"^([0-9]+)([KMG])$")
_CPUSET = re.compile(r"^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$")
_KNOB = re.compile(r"^[a-z][a-z0-9_]*$")


def knob_variable(configuration: str, knob: str) -> str:
    """The compose variable of ``configuration``'s command that sets ``knob``:
    ``knob_variable("gunicorn-sync", "workers") == "GUNICORN_SYNC_WORKERS"``."""
    return f"{configuration}_{knob}".upper().replace("-", "_")


def memory_bytes(text: str) -> int:
    """``"512M"`` -> 536870912. Units K, M, G (binary, as Docker reads them).

    Raises:
        ValueError: not a whole number followed by K, M or G.
    """
    match = _MEMORY.match(text)
    if not match:
        raise ValueError(f"memory must be a whole number with K, M or G (e.g. 512M), got {text!r}")
    return int(match.group(1)) * {"K": 2**10, "M": 2**20, "G": 2**30}[match.group(2)]


def cpuset_cores(text: str) -> frozenset[int]:
    """The cores of a cpuset string: ``"0-1"`` -> {0, 1}, ``"1,3"`` -> {1, 3}.

    Raises:
        ValueError: not a cpuset list.
    """
    if not _CPUSET.match(text):
        raise ValueError(f"cpuset must list cores like 1 or 0-1 or 0,2, got {text!r}")
    cores = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        cores.update(range(int(low), int(high or low) + 1))
    return frozenset(cores)


def cpuset_size(text: str) -> int:
    """The number of cores in a cpuset string: ``"0-1"`` -> 2, ``"1,3"`` -> 2.

    Raises:
        ValueError: not a cpuset list.
    """
    return len(cpuset_cores(text))


@dataclass(frozen=True)
class Variant:
    """Overrides for a configuration's container. Empty (the default): as declared.

    Attributes:
        cpus: CPU quota in CPUs; cpuset: cores, e.g. ``"0-1"``; memory: e.g. ``"512M"``;
            pids: pids limit.
        knobs: settings of the configuration's command that it reads from a compose
            variable (``knob_variable``), as ``(("workers", "8"),)``.
        switches: app switches of ``SWITCHES`` turned on (``("allow_alloc",)``).
        python: the interpreter it runs on, a name ``services/python/interpreters.toml``
            declares (``"3.13t"``); None: the base image's (``interpreters.DEFAULT``). Not
            checked here: a record keeps the name of an interpreter since removed; options
            check it (``interpreters.get``) before a run.
    """

    cpus: float | None = None
    cpuset: str | None = None
    memory: str | None = None
    pids: int | None = None
    knobs: tuple[tuple[str, str], ...] = ()
    switches: tuple[str, ...] = ()
    python: str | None = None

    def __post_init__(self) -> None:
        for switch in self.switches:
            if switch not in SWITCHES:
                raise ValueError(f"unknown switch {switch!r}; known: {', '.join(SWITCHES)}")
        if self.cpus is not None and not 0 < self.cpus <= 1024:
            raise ValueError(f"cpus must be a positive number of CPUs, got {self.cpus}")
        if self.cpuset is not None:
            cpuset_size(self.cpuset)
        if self.memory is not None:
            memory_bytes(self.memory)
        if self.pids is not None and self.pids < 1:
            raise ValueError(f"pids must be at least 1, got {self.pids}")
        for knob, _ in self.knobs:
            if not _KNOB.match(knob):
                raise ValueError(f"a knob is a lower-case setting name, got {knob!r}")

    def __bool__(self) -> bool:
        return self != Variant()

    def over(self, base: Variant) -> Variant:
        """This variant with ``base``'s values where this one sets none."""
        knobs = dict(base.knobs) | dict(self.knobs)
        return Variant(
            cpus=self.cpus if self.cpus is not None else base.cpus,
            cpuset=self.cpuset if self.cpuset is not None else base.cpuset,
            memory=self.memory if self.memory is not None else base.memory,
            pids=self.pids if self.pids is not None else base.pids,
            knobs=tuple(sorted(knobs.items())),
            switches=tuple(sorted(set(base.switches) | set(self.switches))),
            python=self.python if self.python is not None else base.python,
        )

    def env(self, configuration: str) -> dict[str, str]:
        """The compose variables that apply this variant to ``configuration`` (its limits
        in ``LIMIT_VARIABLES``, its knobs in ``knob_variable``).

        Raises:
            interpreters.UnknownPython: its Python is not declared (any more).
        """
        env = {}
        for attr, variable in LIMIT_VARIABLES.items():
            value = getattr(self, attr)
            if value is not None:
                env[variable] = f"{value:g}" if isinstance(value, float) else str(value)
        for knob, value in self.knobs:
            env[knob_variable(configuration, knob)] = value
        for switch in self.switches:
            env[SWITCHES[switch]] = "1"
        if self.python is not None:
            env.update(interpreters.get(self.python).env())
        return env

    @property
    def tag(self) -> str:
        """Short file-name form: ``""``, ``"cpus0.5-cpuset0-1"``, ``"workers8"``,
        ``"py3.13t-cpus2"``."""
        parts = ([f"py{self.python}"] if self.python is not None else [])
        parts += [f"{k}{v}" for k, v in self.knobs] + list(self.switches)
        for attr in LIMIT_VARIABLES:
            value = getattr(self, attr)
            if value is not None:
                parts.append(f"{attr}{value:g}" if isinstance(value, float) else f"{attr}{value}")
        return "-".join(parts).replace(",", "_")

    def describe(self) -> str:
        """Human form: ``"as declared"``, ``"workers=8, cpus=0.5"``."""
        if not self:
            return "as declared"
        parts = ([f"python={self.python}"] if self.python is not None else [])
        parts += [f"{k}={v}" for k, v in self.knobs] + list(self.switches)
        parts += [f"{a}={getattr(self, a):g}" if isinstance(getattr(self, a), float)
                  else f"{a}={getattr(self, a)}"
                  for a in LIMIT_VARIABLES if getattr(self, a) is not None]
        return ", ".join(parts)

    def to_dict(self) -> dict:
        return {"cpus": self.cpus, "cpuset": self.cpuset, "memory": self.memory,
                "pids": self.pids, "knobs": [list(k) for k in self.knobs],
                "switches": list(self.switches), "python": self.python}

    @classmethod
    def from_dict(cls, data: dict | None) -> Variant:
        data = dict(data or {})
        data["knobs"] = tuple(tuple(k) for k in data.get("knobs", ()))
        data["switches"] = tuple(data.get("switches", ()))
        return cls(**data)


@dataclass(frozen=True)
class Level:
    """One measurement: a configuration, a workload with its parameters, a load.

    Attributes:
        configuration: the compose service measured.
        workload: the workload's name (``wsgilab.workloads``).
        load: closed (VUs) or open (an arrival rate): ``wsgilab.model.load``.
        params: the workload's parameters for this level, sorted by name.
        variant: limits or settings that differ from the configuration's declaration.
        repeat: which repeat of the level this is (1-based).
        name_params: the parameters named in the level's files (the workload's axes,
            such as a database driver), set by ``Workload.level``.
    """

    configuration: str
    workload: str
    load: Load
    params: tuple[tuple[str, int | str], ...] = ()
    variant: Variant = field(default_factory=Variant)
    repeat: int = 1
    #: Parameter names that appear in the slug (set by ``Workload.level``).
    name_params: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def param(self, name: str):
        """The value of parameter ``name``.

        Raises:
            KeyError: the level has no such parameter.
        """
        return dict(self.params)[name]

    @property
    def closed(self) -> bool:
        """Whether the load is closed (VUs), not open (an arrival rate)."""
        return self.load.model == CLOSED

    @property
    def vus(self) -> int:
        """The VUs k6 runs: a closed load's own, or those an open load pre-allocates
        (not a concurrency the server is offered: see ``load``)."""
        return self.load.vus

    def case(self) -> Level:
        """This level with ``repeat`` 1: what the repeats of one level share."""
        return Level(self.configuration, self.workload, self.load, self.params, self.variant,
                     name_params=self.name_params)

    @property
    def slug(self) -> str:
        """The level's file stem, ``io-vus-010``, ``io-rate-16`` or
        ``cpu-cpus2-cpuset0-1-vus-008-r2``.

        Parameters in ``name_params`` (a workload's axes) are part of it.
        """
        parts = [self.workload] + [str(v) for k, v in self.params if k in self.name_params]
        if self.variant:
            parts.append(self.variant.tag)
        parts.append(self.load.tag)
        if self.repeat > 1:
            parts.append(f"r{self.repeat}")
        return "-".join(parts)

    @property
    def test_id(self) -> str:
        return f"{self.configuration}-{self.slug}"

    def describe(self) -> str:
        """``gunicorn-sync cpu at 8 VUs (cpus=0.5)`` or ``gunicorn-sync io at 16 req/s``,
        for progress lines and messages."""
        params = ", ".join(f"{k}={v}" for k, v in self.params if k in self.name_params)
        text = (f"{self.configuration} {self.workload}{f' [{params}]' if params else ''} "
                f"at {self.load.describe()}")
        if self.variant:
            text += f" ({self.variant.describe()})"
        if self.repeat > 1:
            text += f", repeat {self.repeat}"
        return text

    def to_dict(self) -> dict:
        return {"configuration": self.configuration, "workload": self.workload,
                "load": self.load.to_dict(), "params": dict(self.params),
                "name_params": sorted(self.name_params),
                "variant": self.variant.to_dict(), "repeat": self.repeat}

    @classmethod
    def from_dict(cls, data: dict) -> Level:
        """A level as ``to_dict`` wrote it; records written before loads were a type
        (2026-12-02) give ``vus``, a closed load."""
        load = load_from_dict(data["load"]) if "load" in data else Closed(int(data["vus"]))
        return cls(configuration=data["configuration"], workload=data["workload"], load=load,
                   params=tuple(sorted(data.get("params", {}).items())),
                   variant=Variant.from_dict(data.get("variant")),
                   repeat=int(data.get("repeat", 1)),
                   name_params=frozenset(data.get("name_params", ())))
