"""One lab session: every change made to the running lab, owned, and undone on any way out.

A run (the bench, the fault scenarios, the capacity search, every later runner) changes the
lab it measures: it recreates a configuration's container under a variant (other limits,
another worker count), moves idle configurations off a measured core with a live cpuset
update, stops a container, restarts one. Each of those goes through a ``LabSession``,
which remembers it and puts it back when the session ends: normally, on an error, on
Ctrl-C (SIGINT), SIGTERM (``timeout``, CI, systemd) or SIGHUP (a closed terminal). A
second signal while the lab is being put back waits until it is back.

A process can still die by SIGKILL or a power cut, with nothing run on its way out. So
every session starts by reconciling: each service's running command, limits and cpuset
are compared with the declaration (the compose model) and put back where they differ,
and the session says what it changed. Within a session, ``verify`` reads a container back
before each level, so that a level never runs on a container other than its record says.

A session may also launch a service that the declaration does not start (an app's
candidate configuration, ``wsgilab.studies.advise``): launched services are removed again at the
end. And a session that only needs room on the measured cores (``reconcile=False``) leaves
a lab it did not start alone, moving its running configurations aside and back. A
reconciling start also removes what a killed run of another project left running (an
app's project, ``Engine.strays``), and says so.

``serving`` is how a run gets a configuration to measure: applied, idle, and read back
(the limits the engine applied, the settings the server reports on its instrument's
endpoint, the model its family gives them).

The engine is reached through ``Engine`` (``wsgilab.lab.engine``), so that the undo and
reconcile logic is tested without Docker.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from wsgilab import families
from wsgilab.lab.compose import ComposeError
from wsgilab.lab.engine import DockerEngine, Engine, EngineError, State
from wsgilab.lab.probe import Probe
from wsgilab.model import interpreters
from wsgilab.model.facts import Configuration, gil_off
from wsgilab.model.levels import Variant
from wsgilab.model.theory import UnknownServer, without_gil

__all__ = ["Drift", "Engine", "Interrupted", "LabSession", "NotServing", "State",
           "STOP_SIGNALS", "python_mismatch"]

#: The signals that end a run as Ctrl-C does, besides SIGINT: SIGTERM (``timeout``, CI,
#: systemd, ``docker stop``) and SIGHUP (the terminal closed).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """A stop signal (SIGTERM, SIGHUP) arrived; raised in the main thread like
    KeyboardInterrupt, so that no ``except Exception`` on the way swallows it.

    Attributes:
        signum: the signal's number.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")

    @property
    def exit_status(self) -> int:
        """The shell's convention: 128 + the signal's number."""
        return 128 + self.signum


class Drift(RuntimeError):
    """A container differs from what the level it is about to serve declares."""


class NotServing(RuntimeError):
    """A configuration could not be brought to serve a level: it did not start, never
    became idle, does not answer through the front end, reports a server no family
    knows, or runs another Python than its variant names."""


def python_mismatch(python: str | None, runtime: dict) -> str | None:
    """Why a container does not run the interpreter its variant names (the health answer's
    ``runtime``), or None when it does. The default interpreter is not checked: the base
    image's Python is whatever its version."""
    if python is None:
        return None
    interp = interpreters.get(python)
    facts = runtime.get("python") or {}
    version, threaded = str(facts.get("version", "")), bool(facts.get("free_threaded_build"))
    if not version.startswith(interp.name.rstrip("t") + ".") or threaded != interp.free_threaded:
        return (f"runs Python {version or 'unknown'}"
                f"{' (free-threaded)' if threaded else ''}, not {interp.name}")
    return None


@dataclass
class LabSession:
    """The owner of every change to the running lab for one run (a context manager).

    Args:
        engine: the container engine (``DockerEngine()`` by default).
        probe: the configurations' instrument through the front end (``serving``).
        out: where the session says what it changes and puts back.
        edge_cpuset: where ``isolate`` moves the other configurations (the front end's
            cores).
        reconcile: start by putting the lab back as declared (``reconcile``); False for
            a session that only moves another lab's running configurations aside
            (``vacate``) and must not start what is not running.

    Attributes:
        variants: services recreated under a variant, and that variant.
        moved: services moved to another cpuset, and the cpuset they had.
        stopped: services whose container this session stopped.
        launched: services this session started that the declaration does not start.
        reconciled: what the start put back, one sentence each.
        restored: what the end (and every ``undo``) put back, one sentence each.
    """

    engine: Engine | None = None
    probe: Probe = field(default_factory=Probe)
    out: Callable[[str], None] = print
    edge_cpuset: str | None = None
    reconcile_on_enter: bool = True
    variants: dict[str, Variant] = field(default_factory=dict)
    moved: dict[str, str] = field(default_factory=dict)
    stopped: set[str] = field(default_factory=set)
    launched: set[str] = field(default_factory=set)
    reconciled: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.engine is None:
            self.engine = DockerEngine()
        self._handlers: dict[int, object] = {}
        self._deferred: list[int] = []
        self._undoing = False

    # --- the session's life ---------------------------------------------------------
    def __enter__(self) -> LabSession:
        self._install_handlers()
        try:
            if self.reconcile_on_enter:
                self.reconcile()
        except BaseException:
            self._restore_handlers()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._undoing = True  # a signal now waits until the lab is back
        try:
            self.undo()
        finally:
            self._undoing = False
            self._restore_handlers()
        if self._deferred and exc is None:
            raise Interrupted(self._deferred[0])

    def _install_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers; its caller owns signals then

        def handler(signum, frame):
            if self._undoing:
                self._deferred.append(signum)
                self.out(f"{signal.Signals(signum).name}: putting the lab back first")
                return
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise Interrupted(signum)

        for signum in (signal.SIGINT, *STOP_SIGNALS):
            self._handlers[signum] = signal.signal(signum, handler)

    def _restore_handlers(self) -> None:
        for signum, previous in self._handlers.items():
            signal.signal(signum, previous)
        self._handlers.clear()

    # --- reconcile ------------------------------------------------------------------
    def drift(self) -> dict[str, dict[str, tuple]]:
        """Every service whose running container differs from its declaration:
        ``{service: {field: (running, declared)}}`` (``{"running": (False, True)}`` for a
        service with no running container)."""
        found = {}
        for service in self.engine.services():
            live = self.engine.running(service)
            if live is None:
                found[service] = {"running": (False, True)}
                continue
            differs = live.differences(self.engine.declared(service))
            if differs:
                found[service] = differs
        return found

    def reconcile(self) -> list[str]:
        """Start the lab and put every service back as declared.

        ``Engine.up`` recreates what compose sees changed (a container left under a
        variant by a killed run); live cpuset updates are invisible to compose, so each
        service is then compared with its declaration and moved back, or recreated if
        anything else differs.

        Returns:
            what was put back, one sentence per service (also said through ``out``).

        Raises:
            Drift: a service still differs after being put back.
        """
        strays = self.engine.strays()
        for name in strays:
            self.engine.remove_project(name)
        before = self.drift()
        self.engine.up()
        after = self.drift()
        for service, differs in after.items():
            if set(differs) == {"cpuset"}:
                self.engine.set_cpuset(service, differs["cpuset"][1])
            else:
                self.engine.recreate([service], force=True)
        left = self.drift()
        if left:
            raise Drift("still not as declared after putting back: " + _describe(left))
        self.reconciled = [f"{name}: left running by a run that was killed; removed"
                           for name in strays]
        self.reconciled += [f"{service}: {_fields(differs)}; put back as declared"
                            for service, differs in sorted(before.items())
                            if set(differs) != {"running"}]
        for line in self.reconciled:
            self.out(f"lab: {line}")
        return self.reconciled

    # --- changes --------------------------------------------------------------------
    def apply(self, service: str, variant: Variant = Variant()) -> bool:
        """Make ``service`` run under ``variant`` (recreated when it runs another).

        Returns:
            True if its container was recreated.

        Raises:
            compose.ComposeError: it did not come up healthy (the variant stays recorded,
                so that the end of the session puts it back).
        """
        if self.variants.get(service, Variant()) == variant:
            return False
        self.moved.pop(service, None)  # a new container has its declared cpuset
        self.variants[service] = variant  # recorded first: undone even if this fails
        self.engine.recreate([service], env=variant.env(service) if variant else None)
        if not variant:
            del self.variants[service]
        return True

    def verify(self, service: str, variant: Variant = Variant()) -> State:
        """``service``'s container as it runs now, checked against its declaration with
        ``variant`` applied.

        Raises:
            Drift: it runs something else, or is not running.
        """
        live = self.engine.running(service)
        declared = self.engine.declared(service, variant.env(service) if variant else None)
        if live is None:
            raise Drift(f"{service} is not running")
        differs = live.differences(declared)
        if differs:
            raise Drift(f"{service} ({variant.describe()}) differs from its declaration: "
                        f"{_fields(differs)}")
        return live

    def serving(self, service: str, variant: Variant = Variant(), launch: bool = False) -> Configuration:
        """``service`` applied with ``variant`` (or, with ``launch``, started though the
        declaration does not start it), idle, and read back: its command and limits from
        the engine, its settings, container facts and processes from its instrument
        (``Probe.health``), and the model its server family gives those settings.

        Raises:
            NotServing: any of that failed (the change stays recorded, and is undone at
                the session's end).
        """
        try:
            if launch or (self.engine.deploys_on_demand and self.engine.running(service) is None):
                self.launch(service, variant)
            elif self.apply(service, variant):
                self.out(f"{service}: recreated with {variant.describe()}")
            self.probe.wait_idle(service)
            live = self.engine.running(service)
            if live is None:
                raise EngineError(f"{service} is not running")
            answer = self.probe.wait_reachable(service)
            capacity = families.model(answer["server"])
            if gil_off(answer):
                capacity = without_gil(capacity)
            mismatch = python_mismatch(variant.python, answer.get("runtime", {}))
            if mismatch:
                raise LookupError(f"{service} {mismatch}")
        except (ComposeError, EngineError, LookupError, ConnectionError, UnknownServer,
                TimeoutError) as exc:
            raise NotServing(f"{type(exc).__name__}: {exc}") from None
        return Configuration(service=service, command=list(live.command or ()),
                             limits=live.limits, settings=answer["server"], capacity=capacity,
                             container=answer.get("container", {}),
                             runtime=answer.get("runtime", {}), app=answer.get("app", {}),
                             processes=answer.get("processes", {}))

    def isolate(self, service: str, others: bool) -> None:
        """Before a level of ``service``: ``service`` back on its own cpuset; with
        ``others``, every other running configuration moved to ``edge_cpuset`` (a level
        that measures CPU time gets its cores to itself), else left where it is (an I/O
        level does not need them moved back and forth)."""
        if service in self.moved:
            self.engine.set_cpuset(service, self.moved.pop(service))
        if others:
            self.vacate(keep=service)

    def vacate(self, keep: str | None = None) -> list[str]:
        """Move every running configuration but ``keep`` to ``edge_cpuset``.

        Returns:
            the configurations moved now (none on an engine that cannot pin a container's
            cores: a swarm's).
        """
        done = []
        if not self.engine.pins_cores:
            return done
        for other in self.engine.configurations():
            if other == keep or other in self.moved or other in self.stopped:
                continue
            live = self.engine.running(other)
            if live is None or live.cpuset == self.edge_cpuset:
                continue
            self.moved[other] = live.cpuset  # recorded first: undone even if this fails
            self.engine.set_cpuset(other, self.edge_cpuset)
            done.append(other)
        return done

    def release(self) -> None:
        """Every configuration ``isolate`` moved, back on its own cpuset."""
        for service, cpuset in list(self.moved.items()):
            if self.engine.running(service) is not None:
                self.engine.set_cpuset(service, cpuset)
            del self.moved[service]

    def stop(self, service: str) -> None:
        """Stop ``service``'s container (started again by ``start`` or the session's end)."""
        self.stopped.add(service)
        self.engine.stop(service)

    def restart(self, service: str) -> None:
        """Restart ``service``'s container as it runs (a deploy's restart: its limits and
        settings unchanged, the state its processes held dropped): nothing to put back."""
        self.engine.restart(service)

    def start(self, service: str) -> None:
        """Start ``service``'s container again."""
        self.engine.start(service)
        self.stopped.discard(service)

    def launch(self, service: str, variant: Variant = Variant()) -> None:
        """Start ``service``, which the declaration does not start (a profiled candidate),
        under ``variant``, and wait until it is healthy; ``retire`` or the session's end
        removes it.

        Raises:
            compose.ComposeError: it did not come up healthy (still removed at the end).
        """
        self.launched.add(service)  # recorded first: removed even if this fails
        if variant:
            self.variants[service] = variant
        self.engine.recreate([service], env=variant.env(service) if variant else None)

    def require(self, backends: tuple[str, ...]) -> None:
        """On an engine that deploys on demand (a swarm's), exactly ``backends`` of the
        services this session launched beside the configurations: the others removed first
        (a node's reservations hold the configuration and what its level waits on), then
        the missing ones launched. Elsewhere every backend runs all the time: nothing to do.

        Raises:
            compose.ComposeError, EngineError: a backend did not come up (still removed
                at the session's end).
        """
        if not self.engine.deploys_on_demand:
            return
        configurations = set(self.engine.configurations())
        for service in sorted(self.launched - configurations - set(backends)):
            self.retire(service)
        for service in backends:
            if self.engine.running(service) is None:
                self.launch(service)

    def retire(self, service: str) -> None:
        """Remove a service ``launch`` started."""
        self.engine.remove(service)
        self.launched.discard(service)
        self.variants.pop(service, None)
        self.moved.pop(service, None)

    def undo(self) -> list[str]:
        """Put back everything this session changed: launched services removed, moved
        cpusets, stopped containers, variants (recreated as declared, all at once). Then
        check that nothing differs from the declaration (with ``reconcile_on_enter``
        False: among the services it touched).

        Returns:
            what was put back, one sentence each (also said through ``out``).
        """
        done = []
        for service in sorted(self.launched):
            self.retire(service)
            done.append(f"{service} removed")
        # Started first: a stopped container keeps the cpuset it was moved to.
        for service in sorted(self.stopped):
            self.engine.start(service)
            done.append(f"{service} started again")
        self.stopped.clear()
        if self.moved:
            done.append(f"{', '.join(sorted(self.moved))} back on their own cores")
            self.release()
        changed = sorted(s for s, v in self.variants.items() if v)
        if changed:
            self.engine.recreate(changed)
            done.append(f"back as declared: {', '.join(changed)}")
        self.variants.clear()
        for line in done:
            self.out(f"lab: {line}")
        self.restored += done
        left = self.drift() if self.reconcile_on_enter else {}
        if left:
            self.out(f"lab: still not as declared: {_describe(left)} (the next run's start "
                     "puts it back)")
        return done


def _fields(differs: dict[str, tuple]) -> str:
    return ", ".join(f"{name} {running!r} instead of {declared!r}"
                     if name != "running" else "not running"
                     for name, (running, declared) in differs.items())


def _describe(found: dict[str, dict[str, tuple]]) -> str:
    return "; ".join(f"{service}: {_fields(differs)}" for service, differs in sorted(found.items()))
