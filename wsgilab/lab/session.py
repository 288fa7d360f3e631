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
a lab it did not start alone, moving its running configurations aside and back.

The engine is reached through ``Engine`` (``DockerEngine``: compose and the Docker SDK),
so that the undo and reconcile logic is tested without Docker.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from wsgilab.model.levels import Variant

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


@dataclass(frozen=True)
class State:
    """What a service's container runs: its command and its limits.

    Attributes:
        command: the command, as a list of arguments; declared as None, the image's own
            (any running command matches it).
        cpus: CPU quota in CPUs (0: none); cpuset: its cores, e.g. ``"1"``.
        memory_bytes, memswap_bytes: memory and memory + swap limits (0: none).
        pids: pids limit (0: none).
        image: the image it runs (one per Python: ``wsgilab.lab.pythons``); declared as None,
            any.
    """

    command: tuple[str, ...] | None
    cpus: float
    cpuset: str
    memory_bytes: int
    memswap_bytes: int
    pids: int
    image: str | None = None

    def differences(self, declared: State) -> dict[str, tuple]:
        """``{field: (running, declared)}`` for every field that differs."""
        return {name: (getattr(self, name), getattr(declared, name))
                for name in self.__dataclass_fields__
                if getattr(self, name) != getattr(declared, name)
                and not (name in ("command", "image") and getattr(declared, name) is None)}


class Engine:
    """What a session needs of the container engine (``DockerEngine``; fakes in tests)."""

    def services(self) -> list[str]:
        """Every service of the lab's compose model."""
        raise NotImplementedError

    def configurations(self) -> list[str]:
        """The services that are measured configurations."""
        raise NotImplementedError

    def declared(self, service: str, env: dict[str, str] | None = None) -> State:
        """What the compose model declares for ``service``, with ``env`` applied."""
        raise NotImplementedError

    def running(self, service: str) -> State | None:
        """What ``service``'s container runs now; None when it is not running."""
        raise NotImplementedError

    def up(self) -> None:
        """Build what is missing, start every service, recreate those whose declaration
        changed, and wait until all are healthy."""
        raise NotImplementedError

    def recreate(self, services: list[str], env: dict[str, str] | None = None,
                 force: bool = False) -> None:
        """Recreate ``services`` with ``env`` applied (``force``: even if compose sees
        no change) and wait until they are healthy."""
        raise NotImplementedError

    def set_cpuset(self, service: str, cpuset: str) -> None:
        """Move ``service``'s running container to ``cpuset`` (a live update)."""
        raise NotImplementedError

    def stop(self, service: str) -> None:
        raise NotImplementedError

    def remove(self, service: str) -> None:
        """Stop and remove ``service``'s container."""
        raise NotImplementedError

    def start(self, service: str) -> None:
        raise NotImplementedError


@dataclass
class LabSession:
    """The owner of every change to the running lab for one run (a context manager).

    Args:
        engine: the container engine (``DockerEngine()`` by default).
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
        self.reconciled = [f"{service}: {_fields(differs)}; put back as declared"
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
            the configurations moved now.
        """
        done = []
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


class DockerEngine(Engine):
    """The lab's engine: ``docker compose`` for the model and (re)creation, the Docker
    SDK for live state and live updates. The SDK is imported on first use."""

    def __init__(self, client=None, project=None) -> None:
        """Args:
            client: a Docker SDK client (one is made on first use).
            project: the ``compose.Project`` it drives (None: whichever is current when
                it is called, the lab's own by default).
        """
        self._client = client
        self.project = project

    def _on(self):
        from wsgilab.lab import compose

        return compose.using(self.project) if self.project else contextlib.nullcontext()

    @property
    def client(self):
        if self._client is None:
            import docker

            self._client = docker.from_env()
        return self._client

    def services(self) -> list[str]:
        from wsgilab.lab import compose

        with self._on():
            return compose.always_on()

    def configurations(self) -> list[str]:
        from wsgilab.lab import compose

        with self._on():
            return compose.configurations()

    def declared(self, service: str, env: dict[str, str] | None = None) -> State:
        from wsgilab.lab import compose, topology

        with self._on():
            svc = compose.config(env)["services"][service]
            limits = topology.declared_limits(service, env)
        command = tuple(svc["command"]) if svc.get("command") else None
        return State(command, limits.cpus, limits.cpuset,
                     limits.memory_bytes, limits.memswap_bytes, limits.pids, svc.get("image"))

    def container(self, service: str):
        from wsgilab.lab import topology

        with self._on():
            return topology.container(service, self.client)

    def running(self, service: str) -> State | None:
        from wsgilab.model.facts import applied_limits

        try:
            ctr = self.container(service)
        except LookupError:
            return None
        limits = applied_limits(ctr.attrs["HostConfig"])
        return State(tuple(ctr.attrs["Config"]["Cmd"] or ()), limits.cpus, limits.cpuset,
                     limits.memory_bytes, limits.memswap_bytes, limits.pids,
                     ctr.attrs["Config"].get("Image"))

    def up(self) -> None:
        from wsgilab.lab import compose

        with self._on():
            compose.up()

    def recreate(self, services: list[str], env: dict[str, str] | None = None,
                 force: bool = False) -> None:
        from wsgilab.lab import compose

        with self._on():
            compose.recreate(*services, env=env, force=force)

    def set_cpuset(self, service: str, cpuset: str) -> None:
        self.container(service).update(cpuset_cpus=cpuset)

    def stop(self, service: str) -> None:
        self.container(service).stop(timeout=10)

    def remove(self, service: str) -> None:
        from wsgilab.lab import compose

        with self._on():
            compose.remove(service)

    def start(self, service: str) -> None:
        from wsgilab.lab import compose

        # compose, not the SDK: a stopped container is not found by the running filter.
        with self._on():
            compose.compose("start", service, capture=True)
            compose.compose("up", "--detach", "--no-deps", "--wait", "--wait-timeout",
                            str(compose.RECREATE_TIMEOUT_S), service, capture=True)
