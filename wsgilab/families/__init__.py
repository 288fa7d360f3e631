"""Server families: one declared module each, and nothing else asks a family by its name.

A family is a server and the way it runs requests (gunicorn's sync workers, gunicorn's
gthread workers, uWSGI's processes of threads, granian, ...). Each module here declares one
``FAMILY`` (a ``Family``):

- how it is launched: ``command(knobs)``, the container's command, the app behind the
  lab's instrument (``labinstrument.wsgi:app``), through the family's ``launcher`` where
  the server cannot report its settings by itself;
- how its settings are read back: ``declared(command)`` parses a command with the
  server's own parser, and the running server reports the same settings on the
  instrument's ``/_lab/health`` (``reported_by``); ``matches(settings)`` says whether
  settings are this family's;
- its process model (``ProcessModel``: threads or greenlets sharing a process) and its
  concurrency model, ``model(settings) -> theory.Capacity`` (the cap, what is sustained,
  the CPU parallelism), with sources in the module's docstring;
- its concurrency knobs and their bounds (``Knob``), read back by ``knobs_of(settings)``;
- the command a user pastes, ``paste(knobs, entry)``, and a config file where the server
  has one (``config_file``);
- its requirements: the server lock its image installs (``requirements``).

Adding a family is a compose file, one module here, a launcher (if the server cannot
report its settings) and its pins; ``docs/extending.md`` says how, and tests/unit/
test_servers.py holds every compose configuration and candidate to exactly one family.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from wsgilab.model.paths import ROOT
from wsgilab.model.sizing import Demand
from wsgilab.model.theory import Capacity, UnknownServer

#: The launchers' own parsers live in the instrument's package, which the host imports too.
_INSTRUMENT_SOURCE = str(ROOT / "services" / "instrument")
if _INSTRUMENT_SOURCE not in sys.path:
    sys.path.append(_INSTRUMENT_SOURCE)

#: The app as the instrument wraps it, in every container command (services/instrument).
INSTRUMENTED_APP = "labinstrument.wsgi:app"


@dataclass(frozen=True)
class Knob:
    """One setting that sets how many requests a family runs at once.

    Attributes:
        name: the setting's name, as the server reports it and as a level's variant names
            it (``Variant.knobs``: ``workers``, ``threads``).
        low, high: the values the lab will set (the high bound keeps a level within the
            container's pids and memory: a thread or process per unit).
        meaning: what one more unit adds, in words.
        default: the server's own default where the lab leaves the knob unset unless it
            matters (gthread's ``worker_connections``), else None.
        tag: where it has a default, its prefix in a candidate's name (``wc4``).
    """

    name: str
    low: int
    high: int
    meaning: str
    default: int | None = None
    tag: str = ""

    def clamp(self, value: int) -> int:
        """``value`` brought within [low, high]."""
        return min(self.high, max(self.low, value))

    def check(self, value: int) -> int:
        """``value`` if within bounds.

        Raises:
            ValueError: outside [low, high], with the bounds.
        """
        if not self.low <= value <= self.high:
            raise ValueError(f"{self.name} must be {self.low}..{self.high} ({self.meaning}), "
                             f"got {value}")
        return value


@dataclass(frozen=True)
class ProcessModel:
    """How a family runs the requests of one process.

    Attributes:
        threads: requests run on threads of one process (they share its GIL, its memory
            and anything the app keeps per process).
        greenlets: requests run on greenlets of one hub: a request that burns CPU, or
            waits in C code the loop cannot reach, stops every other of its process.
        forks: a process per request (Werkzeug's ``processes=N``).
    """

    threads: bool = False
    greenlets: bool = False
    forks: bool = False

    @property
    def shares_process(self) -> bool:
        """Requests in flight at once share a process (thread-unsafe state shows)."""
        return self.threads or self.greenlets


@dataclass(frozen=True)
class Family:
    """One server family (module docstring).

    Attributes:
        name: its identifier (``gunicorn-gthread``), recorded with each candidate.
        title: in words (``gunicorn gthread``).
        server: the ``server`` its running server reports in its settings.
        reported_by: how the running server reports its resolved settings.
        process: its process model.
        knobs: its concurrency knobs, in the order ``command`` takes them.
        requirements: the server lock its image installs (services/servers/requirements).
        package: the server's distribution on the package index, as the lock pins it.
        needs: other distributions its workers import (gevent's worker: gevent): an
            interpreter with no wheel for one of them cannot run the family.
        launcher: the lab's launcher module (``labinstrument.launchers.<x>``), or None
            where the server reports by itself (gunicorn's hook, uWSGI's module).
        matches: ``(settings) -> bool``: these settings are this family's.
        declared: ``(command) -> settings | None``: what a container command declares,
            parsed by the server's own parser; None when the command is not this server's.
        model: ``(settings) -> Capacity``.
        command: ``(knobs) -> tuple``: the container's command for these knob values.
        paste: ``(knobs, entry) -> str``: the command a user pastes to run ``entry`` so.
        config_file: ``(settings) -> str``: the server's config file for these settings,
            or None where it has none the lab writes.
        environment: variables a candidate of this family runs with (gevent's monitor).
        timeout_s: ``(settings) -> seconds | None``: how long a request may run before the
            server aborts its worker (gunicorn's ``--timeout``), None where none does.
        candidate: a production server ``make advise`` may recommend (the dev server is
            not one).
        sized: ``(demand) -> [(knobs, why)]``: the knob values ``make advise`` measures
            for an app's ``sizing.Demand`` (the requests in flight its CPUs need, by
            Little's law; its cores; the processes its memory holds), each with the reason
            it is there, the family's preferred form first. Empty where the family does not
            run the app (none offered).
        light: the family's first sized entry is in the light run (CI's).
        order: its place among the candidates (lower first).
    """

    name: str
    title: str
    server: str
    reported_by: str
    process: ProcessModel
    knobs: tuple[Knob, ...]
    requirements: str
    package: str
    launcher: str | None
    matches: Callable[[dict], bool]
    declared: Callable[[list[str]], dict | None]
    model: Callable[[dict], Capacity]
    command: Callable[[dict], tuple[str, ...]]
    paste: Callable[[dict, str], str]
    config_file: Callable[[dict], str] | None = None
    needs: tuple[str, ...] = ()
    environment: dict = field(default_factory=dict)
    timeout_s: Callable[[dict], float | None] = lambda settings: None
    candidate: bool = True
    sized: Callable[[Demand], list[tuple[dict, str]]] = lambda demand: []
    light: bool = False
    order: int = 50

    @property
    def distributions(self) -> tuple[str, ...]:
        """Every distribution it needs: its server's and its workers' (``needs``)."""
        return (self.package, *self.needs)

    def knobs_of(self, settings: dict) -> dict[str, int]:
        """The knob values ``settings`` (as the server reports them) hold."""
        return {k.name: int(settings[k.name]) for k in self.knobs if k.name in settings}

    def label(self, knobs: dict) -> str:
        """A short name for this family at ``knobs``: ``sync-5``, ``gthread-1x8``,
        ``gthread-2x4-wc4`` (a knob with a default shows only where it differs)."""
        short = self.name.removeprefix("gunicorn-")
        main = "x".join(str(knobs[k.name]) for k in self.knobs
                        if k.default is None and k.name in knobs)
        rest = "".join(f"-{k.tag}{knobs[k.name]}" for k in self.knobs
                       if k.default is not None and knobs.get(k.name, k.default) != k.default)
        return f"{short}-{main}{rest}"


def launched(name: str, command: list[str], keys: tuple[str, ...] | None = None) -> dict | None:
    """``{"server": name, key: value, ...}`` for ``keys`` (default: the launcher's own
    ``KEYS``) of what ``command`` resolves to when it runs the launcher
    ``labinstrument.launchers.<name>``, parsed by that launcher's ``declared`` (the
    server's own parser); None when ``command`` runs something else."""
    launcher = ["python3", "-m", f"labinstrument.launchers.{name}"]
    if list(command[:3]) != launcher:
        return None
    module = importlib.import_module(launcher[2])
    settings = module.declared(list(command[3:]))
    return {"server": name, **{key: settings[key] for key in (keys or module.KEYS)}}


def entry_for(words: tuple[str, ...] | list[str], entry: str) -> str:
    """A container command as the user runs it: ``entry`` for the instrumented app."""
    return " ".join(entry if w == INSTRUMENTED_APP else w for w in words)


@cache
def registry() -> dict[str, Family]:
    """Every family, by name: each module of this package (but ``_helpers``) declares one
    ``FAMILY``."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            found.append(importlib.import_module(f"{__name__}.{info.name}").FAMILY)
    return {f.name: f for f in sorted(found, key=lambda f: (f.order, f.name))}


def get(name: str) -> Family:
    """The family called ``name``, or titled so (records before families had names give
    the title, ``gunicorn gthread``).

    Raises:
        UnknownServer: no such family.
    """
    for family in registry().values():
        if name in (family.name, family.title):
            return family
    raise UnknownServer(f"no server family {name!r}; known: {', '.join(registry())}")


def servers() -> set[str]:
    """The ``server`` names the families report."""
    return {f.server for f in registry().values()}


def of(settings: dict) -> Family:
    """The family of the server that reported ``settings``.

    Raises:
        UnknownServer: no family has that server, or none of its families takes these
            settings (a mode the lab has no theory for).
    """
    name = settings.get("server")
    same = [f for f in registry().values() if f.server == name]
    if not same:
        raise UnknownServer(f"no family for server {name!r} (settings {settings}); "
                            f"known: {', '.join(sorted(servers()))}")
    for family in same:
        if family.matches(settings):
            return family
    raise UnknownServer(f"no theory for {name} with settings {settings}")


def model(settings: dict) -> Capacity:
    """The capacity model of the server that reported ``settings``.

    Raises:
        UnknownServer: as ``of``.
    """
    return of(settings).model(settings)


def declared(command: list[str]) -> dict:
    """The settings a container ``command`` declares, parsed by its server's own parser.

    Raises:
        UnknownServer: no family recognises the command.
    """
    for family in registry().values():
        settings = family.declared(list(command))
        if settings is not None and family.matches(settings):
            return settings
    raise UnknownServer(f"no server family recognises the command {command}")


def paste_command(command: list[str], entry: str) -> str:
    """What a user runs for a recorded container ``command``: its family's own command
    at the knob values the command declares, with ``entry`` as the app.

    Raises:
        UnknownServer: no family recognises the command.
    """
    settings = declared(command)
    family = of(settings)
    return family.paste(family.knobs_of(settings), entry)
