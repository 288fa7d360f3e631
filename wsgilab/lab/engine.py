"""The container engine: the one module of the lab that talks to Docker.

Everything that starts, stops, changes or inspects a container asks an ``Engine``: the lab
session (``wsgilab.lab.session``), a run and its levels (``wsgilab.lab.run``), the fault
scenarios and the studies. ``DockerEngine`` is the real one: ``docker compose`` (through
``wsgilab.lab.compose``) for the model and for (re)creation, the Docker SDK for live state,
logs, live updates and the faults' actions inside a container (``exec``: a signal, a
client on the internal network, a reload). Tests give a fake.

No figure is read here: a container's CPU, memory and tasks, and the backends' own counts,
come from the agent in each container over HTTP (``wsgilab.lab.probe``), so that they read
the same on any engine. What an engine reads is a plain value (``State``, ``Limits``), never
an SDK object, so that nothing above this module holds a Docker handle.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import docker
import docker.errors

from wsgilab.lab import compose
from wsgilab.model.facts import Limits, applied_limits

#: The label compose gives every container of a project, and the prefix of the projects
#: the lab starts (its own, ``wsgi-lab``, and each app's, ``wsgi-lab-<app>``).
PROJECT_LABEL = "com.docker.compose.project"
PROJECT_PREFIX = "wsgi-lab"


class EngineError(RuntimeError):
    """The engine could not do what was asked (a container gone, an exec that failed)."""


@dataclass(frozen=True)
class State:
    """What a service's container runs: its command and its limits.

    Attributes:
        command: the command, as a list of arguments; declared as None, the image's own
            (any running command matches it).
        cpus: CPU quota in CPUs (0: none); cpuset: its cores, e.g. ``"1"``.
        memory_bytes, memswap_bytes: memory and memory + swap limits (0: none).
        pids: pids limit (0: none).
        image: the image it runs (one per Python: ``wsgilab.lab.pythons``); declared as
            None, any.
    """

    command: tuple[str, ...] | None
    cpus: float
    cpuset: str
    memory_bytes: int
    memswap_bytes: int
    pids: int
    image: str | None = None

    @property
    def limits(self) -> Limits:
        return Limits(self.cpus, self.cpuset, self.memory_bytes, self.memswap_bytes, self.pids)

    def differences(self, declared: State) -> dict[str, tuple]:
        """``{field: (running, declared)}`` for every field that differs."""
        return {name: (getattr(self, name), getattr(declared, name))
                for name in self.__dataclass_fields__
                if getattr(self, name) != getattr(declared, name)
                and not (name in ("command", "image") and getattr(declared, name) is None)}


class Engine:
    """What the lab asks of a container engine. Every method may raise ``EngineError``
    (or ``compose.ComposeError`` for the model's commands)."""

    # --- the model ------------------------------------------------------------------
    def services(self) -> list[str]:
        """Every service ``up`` starts."""
        raise NotImplementedError

    def configurations(self) -> list[str]:
        """The services that are measured configurations."""
        raise NotImplementedError

    def declared(self, service: str, env: dict[str, str] | None = None) -> State:
        """What the model declares for ``service``, with ``env`` applied."""
        raise NotImplementedError

    # --- live state -----------------------------------------------------------------
    def running(self, service: str) -> State | None:
        """What ``service``'s container runs now; None when it is not running."""
        raise NotImplementedError

    def logs(self, service: str, tail: int = 60) -> str:
        """The last ``tail`` lines of ``service``'s log ("" when it has none)."""
        raise NotImplementedError

    def exec(self, service: str, argv: list[str]) -> tuple[int, str]:
        """Run ``argv`` inside ``service``'s container as its own user: (exit status,
        stdout and stderr)."""
        raise NotImplementedError

    def describe(self) -> dict:
        """The engine and its host: version, cgroup version, kernel, memory."""
        return {}

    # --- changes --------------------------------------------------------------------
    def up(self) -> None:
        """Build what is missing, start every service, recreate those whose declaration
        changed, and wait until all are healthy."""
        raise NotImplementedError

    def recreate(self, services: list[str], env: dict[str, str] | None = None,
                 force: bool = False) -> None:
        """Recreate ``services`` with ``env`` applied (``force``: even if the model sees
        no change) and wait until they are healthy."""
        raise NotImplementedError

    def set_cpuset(self, service: str, cpuset: str) -> None:
        """Move ``service``'s running container to ``cpuset`` (a live update)."""
        raise NotImplementedError

    def stop(self, service: str) -> None:
        raise NotImplementedError

    def start(self, service: str) -> None:
        raise NotImplementedError

    def restart(self, service: str) -> None:
        """Restart ``service``'s container, its limits and settings unchanged."""
        raise NotImplementedError

    def remove(self, service: str) -> None:
        """Stop and remove ``service``'s container."""
        raise NotImplementedError

    def run_once(self, image: str, argv: list[str], cpuset: str, cpus: float,
                 memory: str, pids: int) -> str:
        """Run ``argv`` in a throwaway container of the lab's own ``image``, hardened as
        the lab's (no network, read-only root, non-root, no capabilities) under these
        limits, and return its output."""
        raise NotImplementedError

    # --- other projects -------------------------------------------------------------
    def strays(self) -> list[str]:
        """Projects the lab started (an app's, ``wsgi-lab-<app>``) that still have
        containers, besides the one this engine drives: a run killed before it could
        take its app's project down leaves one."""
        return []

    def remove_project(self, name: str) -> None:
        """Remove every container and network of project ``name``."""
        raise NotImplementedError


class DockerEngine(Engine):
    """The lab's engine: ``docker compose`` for the model and (re)creation, the Docker
    SDK for live state, statistics, exec, logs and live updates."""

    def __init__(self, project: compose.Project | None = None, client=None) -> None:
        """Args:
            project: the compose project it drives (None: the lab's own).
            client: a Docker SDK client (one is made on first use).
        """
        self._client = client
        self.project = project or compose.LAB

    def _on(self):
        return compose.using(self.project)

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.from_env()
        return self._client

    def _container(self, service: str):
        with self._on():
            name = compose.project_name()
        found = self.client.containers.list(filters={"label": [
            f"{PROJECT_LABEL}={name}", f"com.docker.compose.service={service}"]})
        if len(found) != 1:
            raise EngineError(f"expected one running container for {service}, found "
                              f"{len(found)} (is the lab up? `make up`)")
        return found[0]

    # --- the model ------------------------------------------------------------------
    def services(self) -> list[str]:
        with self._on():
            return compose.always_on()

    def configurations(self) -> list[str]:
        with self._on():
            return compose.configurations()

    def declared(self, service: str, env: dict[str, str] | None = None) -> State:
        with self._on():
            svc = compose.config(env)["services"][service]
            limits = compose.declared_limits(service, env)
        command = tuple(svc["command"]) if svc.get("command") else None
        return State(command, limits.cpus, limits.cpuset, limits.memory_bytes,
                     limits.memswap_bytes, limits.pids, svc.get("image"))

    # --- live state -----------------------------------------------------------------
    def running(self, service: str) -> State | None:
        try:
            ctr = self._container(service)
        except EngineError:
            return None
        limits = applied_limits(ctr.attrs["HostConfig"])
        return State(tuple(ctr.attrs["Config"]["Cmd"] or ()), limits.cpus, limits.cpuset,
                     limits.memory_bytes, limits.memswap_bytes, limits.pids,
                     ctr.attrs["Config"].get("Image"))

    def logs(self, service: str, tail: int = 60) -> str:
        with self._on():
            return compose.logs(service, tail)

    def exec(self, service: str, argv: list[str]) -> tuple[int, str]:
        try:
            result = self._container(service).exec_run(argv)
        except docker.errors.APIError as exc:
            raise EngineError(f"{service}: exec failed: {exc}") from None
        return result.exit_code, result.output.decode(errors="replace")

    def describe(self) -> dict:
        info = self.client.info()
        return {"docker_engine": self.client.version().get("Version"),
                "cgroup_version": info.get("CgroupVersion"),
                "kernel": info.get("KernelVersion"),
                "host_memory_bytes": info.get("MemTotal")}

    # --- changes --------------------------------------------------------------------
    def up(self) -> None:
        with self._on():
            compose.up()

    def recreate(self, services: list[str], env: dict[str, str] | None = None,
                 force: bool = False) -> None:
        with self._on():
            compose.recreate(*services, env=env, force=force)

    def set_cpuset(self, service: str, cpuset: str) -> None:
        self._container(service).update(cpuset_cpus=cpuset)

    def stop(self, service: str) -> None:
        self._container(service).stop(timeout=10)

    def start(self, service: str) -> None:
        # compose, not the SDK: a stopped container is not found by the running filter.
        with self._on():
            compose.compose("start", service, capture=True)
            compose.compose("up", "--detach", "--no-deps", "--wait", "--wait-timeout",
                            str(compose.RECREATE_TIMEOUT_S), service, capture=True)

    def restart(self, service: str) -> None:
        try:
            self._container(service).restart(timeout=10)
        except docker.errors.APIError as exc:
            raise EngineError(f"{service} did not restart: {exc}") from None

    def remove(self, service: str) -> None:
        with self._on():
            compose.remove(service)

    def run_once(self, image: str, argv: list[str], cpuset: str, cpus: float,
                 memory: str, pids: int) -> str:
        try:
            self.client.images.get(image)  # ImageNotFound, rather than a pull attempt
            output = self.client.containers.run(
                image, argv, remove=True, network_disabled=True, read_only=True,
                user="10001:10001", cap_drop=["ALL"], security_opt=["no-new-privileges:true"],
                cpuset_cpus=cpuset, nano_cpus=int(cpus * 1e9), mem_limit=memory.lower(),
                pids_limit=pids)
        except docker.errors.DockerException as exc:
            raise EngineError(f"{image}: {exc}") from None
        return output.decode() if isinstance(output, bytes) else str(output)

    # --- other projects -------------------------------------------------------------
    def strays(self) -> list[str]:
        with self._on():
            mine = compose.project_name()
        names = {c.labels.get(PROJECT_LABEL, "") for c in self.client.containers.list(
            all=True, filters={"label": PROJECT_LABEL})}
        return sorted(n for n in names if n.startswith(PROJECT_PREFIX + "-") and n != mine)

    def remove_project(self, name: str) -> None:
        for ctr in self.client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={name}"}):
            with contextlib.suppress(docker.errors.NotFound):
                ctr.remove(force=True)
        for net in self.client.networks.list(filters={"label": f"{PROJECT_LABEL}={name}"}):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                net.remove()
