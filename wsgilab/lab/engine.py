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
import json
import subprocess
import time
from dataclasses import dataclass, replace

import docker
import docker.errors

from wsgilab.lab import compose, swarm
from wsgilab.model.facts import Limits, applied_limits
from wsgilab.model.paths import ROOT

#: The label compose gives every container of a project, and the prefix of the projects
#: the lab starts (its own, ``wsgi-lab``, and each app's, ``wsgi-lab-<app>``).
PROJECT_LABEL = "com.docker.compose.project"
PROJECT_PREFIX = "wsgi-lab"


#: The front end's service name (docker-compose.yml).
FRONT_END = "nginx"


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
    (or ``compose.ComposeError`` for the model's commands).

    Attributes:
        pins_cores: it can pin a container to a cpuset (``set_cpuset``, a level's own
            cores); a swarm cannot.
        deploys_on_demand: a configuration runs only once the session launches it for
            its levels (a swarm's, one at a time), not from ``up``.
    """

    pins_cores = True
    deploys_on_demand = False

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


class SwarmEngine(DockerEngine):
    """The lab's configurations as services of a Docker Swarm stack (``swarm.stack``: limits
    as limits and reservations, DNS round robin, nothing published), driven with the docker
    CLI from a manager node, one configuration at a time (``deploys_on_demand``: a
    configuration is deployed for its levels, the one before it removed, so that the
    measured node holds one configuration's reservation, as a node of a cluster holds the
    measured pod); the front end as one plain container on the manager, attached to the
    stack's overlay networks and published on 127.0.0.1 only (a swarm port binds every
    interface of a node), so that the lab's load, probe and agents reach the configuration
    as under compose.

    What a swarm cannot do is refused by name: a cpuset (``pins_cores`` is False: the
    session never moves a configuration's cores, and ``set_cpuset`` raises), so a level
    that needs one is skipped before any load. Live state is read from the service (its
    spec and its task's state), so that it reads the same for a task on another node;
    ``exec`` reaches a task's container on this node only.
    """

    pins_cores = False
    deploys_on_demand = True
    #: The front end's container on the manager (not a service of the stack: a swarm
    #: service cannot publish on 127.0.0.1 alone).
    FRONT_END_NAME = f"{swarm.STACK}-front-end"
    FRONT_END_PORT = 8080
    #: Where the stack file of each deploy is written.
    STACK_FILE = ROOT / "build" / "swarm" / "stack.yml"

    def __init__(self, client=None) -> None:
        super().__init__(compose.LAB, client)
        self._overlays: dict[str, dict] | None = None

    # --- the docker CLI ---------------------------------------------------------------
    @staticmethod
    def _docker(*args: str, timeout_s: float = 120, check: bool = True) -> str:
        try:
            run = subprocess.run(["docker", *args], capture_output=True, text=True,
                                 timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise EngineError(f"docker {' '.join(args[:3])} ran past {timeout_s:.0f} s") from None
        if check and run.returncode != 0:
            raise EngineError(f"docker {' '.join(args[:3])}: "
                              f"{(run.stderr or run.stdout).strip()[-400:]}")
        return run.stdout

    @staticmethod
    def _service(service: str) -> str:
        return f"{swarm.STACK}_{service}"

    @staticmethod
    def _front_end(service: str) -> bool:
        return service == FRONT_END

    def check_swarm(self) -> None:
        """Raises EngineError: this engine is not a swarm manager (``docker swarm init``)."""
        state = self._docker("info", "--format", "{{.Swarm.LocalNodeState}} "
                             "{{.Swarm.ControlAvailable}}").split()
        if state[:2] != ["active", "true"]:
            raise EngineError("this Docker engine is not a swarm manager: `docker swarm init "
                              "--advertise-addr <address>` first (docs/clusters.md)")

    def deployed(self) -> list[str]:
        """The stack's services now, by the model's names."""
        out = self._docker("stack", "services", "--format", "{{.Name}}", swarm.STACK, check=False)
        prefix = f"{swarm.STACK}_"
        return sorted(n[len(prefix):] for n in out.split() if n.startswith(prefix))

    # --- the model ------------------------------------------------------------------
    def services(self) -> list[str]:
        """Only the front end runs all the time; the rest is deployed for its levels."""
        return [FRONT_END]

    def declared(self, service: str, env: dict[str, str] | None = None) -> State:
        """compose's declaration as a swarm runs it: no cpuset and no swap limit
        (``swarm.LEFT_OUT``); the front end, a plain container here, as declared."""
        state = super().declared(service, env)
        return state if self._front_end(service) else replace(state, cpuset="", memswap_bytes=0)

    # --- live state -----------------------------------------------------------------
    def _container(self, service: str):
        if self._front_end(service):
            found = self.client.containers.list(filters={"name": f"^{self.FRONT_END_NAME}$"})
        else:
            found = self.client.containers.list(filters={"label": [
                f"com.docker.swarm.service.name={self._service(service)}"]})
        if len(found) != 1:
            raise EngineError(f"expected one running container for {service} on this node, "
                              f"found {len(found)}")
        return found[0]

    def _running_tasks(self, service: str) -> int:
        out = self._docker("service", "ps", "--filter", "desired-state=running", "--format",
                           "{{.CurrentState}}", self._service(service), check=False)
        return sum(line.startswith("Running") for line in out.splitlines())

    def running(self, service: str) -> State | None:
        if self._front_end(service):
            return super().running(service)
        out = self._docker("service", "inspect", self._service(service), check=False)
        specs = json.loads(out) if out.strip().startswith("[") else []
        if not specs or self._running_tasks(service) != 1:
            return None
        task = specs[0]["Spec"]["TaskTemplate"]
        spec, limits = task["ContainerSpec"], task.get("Resources", {}).get("Limits", {})
        return State(tuple(spec.get("Args") or spec.get("Command") or ()),
                     (limits.get("NanoCPUs") or 0) / 1e9, "", limits.get("MemoryBytes") or 0,
                     0, limits.get("Pids") or 0, spec.get("Image", "").split("@")[0])

    def logs(self, service: str, tail: int = 60) -> str:
        if self._front_end(service):
            return super().logs(service, tail)
        return self._docker("service", "logs", "--no-trunc", "--tail", str(tail),
                            self._service(service), check=False)

    # --- changes --------------------------------------------------------------------
    def _networks(self) -> dict[str, dict]:
        """The model's networks as the stack's overlays, made once per engine (attachable,
        so that the front end's container joins them): ``{name: the stack file's external
        entry}``; every deploy after the first reuses them."""
        if self._overlays is not None:
            return self._overlays
        with self._on():
            model = compose.config()
        found = {}
        for name, net in swarm.stack(model, only=[])["networks"].items():
            full = f"{swarm.STACK}_{name}"
            if not self._docker("network", "ls", "-q", "--filter", f"name=^{full}$").strip():
                self._docker("network", "create", "--driver", "overlay", "--attachable",
                             *(["--internal"] if net.get("internal") else []), full)
            found[name] = {"external": True, "name": full}
        self._overlays = found
        return found

    def _deploy(self, service: str, env: dict[str, str] | None) -> None:
        """``service`` on the stack with ``env`` applied; a configuration replaces any
        other configuration deployed (removed first, so that the node's reservations hold
        it), a backend joins what is there (the session asks for the backends a level
        needs: ``LabSession.require``)."""
        with self._on():
            configurations = set(compose.configurations())
        if service in configurations:
            for other in self.deployed():
                if other != service and other in configurations:
                    self.remove(other)
        with self._on():
            model = compose.config(env)
        stack = swarm.stack(model, only=[service])
        stack["networks"] = self._networks()
        swarm.write(stack, self.STACK_FILE)
        self._docker("stack", "deploy", "--detach=true", "--resolve-image", "never",
                     "-c", str(self.STACK_FILE), swarm.STACK,
                     timeout_s=compose.RECREATE_TIMEOUT_S)

    def _wait(self, service: str, env: dict[str, str] | None) -> None:
        """Until ``service`` runs one task as declared with ``env`` (a task with a
        healthcheck is Running once it passed)."""
        deadline = time.monotonic() + compose.RECREATE_TIMEOUT_S
        while (live := self.running(service)) is None or live.differences(self.declared(service, env)):
            if time.monotonic() > deadline:
                raise EngineError(f"{service} was not running as declared within "
                                  f"{compose.RECREATE_TIMEOUT_S} s: {self.logs(service, 10)[-400:]}")
            time.sleep(1)

    def _start_front_end(self) -> None:
        """The front end's container: compose's nginx service (its image, user, read-only
        root, tmpfs, capabilities, limits, cpuset and healthcheck), on the stack's overlay
        networks, published on 127.0.0.1 only; waits until it is healthy."""
        with contextlib.suppress(docker.errors.NotFound):
            self.client.containers.get(self.FRONT_END_NAME).remove(force=True)
        with self._on():
            svc = compose.config()["services"][FRONT_END]
            limits = compose.declared_limits(FRONT_END)
        overlays = self._networks()
        networks = [overlays[n]["name"] for n in svc.get("networks") or {} if n in overlays]
        check = svc.get("healthcheck") or {}
        ctr = self.client.containers.create(
            svc["image"], name=self.FRONT_END_NAME, user=svc.get("user"),
            read_only=bool(svc.get("read_only")), tmpfs={p: "" for p in svc.get("tmpfs") or []},
            cap_drop=svc.get("cap_drop"), security_opt=svc.get("security_opt"),
            ulimits=[docker.types.Ulimit(name=k, soft=v["soft"], hard=v["hard"])
                     for k, v in (svc.get("ulimits") or {}).items()],
            nano_cpus=int(limits.cpus * 1e9), cpuset_cpus=limits.cpuset or None,
            mem_limit=limits.memory_bytes or None, memswap_limit=limits.memswap_bytes or None,
            pids_limit=limits.pids or None, labels={"lab.swarm.front-end": swarm.STACK},
            ports={f"{self.FRONT_END_PORT}/tcp": ("127.0.0.1", self.FRONT_END_PORT)},
            network=networks[0] if networks else None,
            healthcheck={"test": check["test"], "interval": 1_000_000_000,
                         "timeout": 5_000_000_000, "retries": 30} if check.get("test") else None)
        try:
            for name in networks[1:]:
                self.client.networks.get(name).connect(ctr)
            ctr.start()
        except docker.errors.APIError as exc:
            ctr.remove(force=True)
            raise EngineError(f"the front end could not start on 127.0.0.1:{self.FRONT_END_PORT} "
                              f"(is the compose lab up? `make down` first): "
                              f"{exc.explanation or exc}") from None
        deadline = time.monotonic() + compose.RECREATE_TIMEOUT_S
        while ctr.attrs.get("State", {}).get("Health", {}).get("Status") != "healthy":
            if time.monotonic() > deadline:
                raise EngineError(f"the front end was not healthy within "
                                  f"{compose.RECREATE_TIMEOUT_S} s: "
                                  f"{ctr.logs(tail=20).decode(errors='replace')}")
            time.sleep(0.5)
            ctr.reload()

    def up(self) -> None:
        """The images built, the stack's networks made, no configuration left deployed (a
        killed run's), and the front end running."""
        self.check_swarm()
        with self._on():
            compose.build()
        for service in self.deployed():
            self.remove(service)
        if super().running(FRONT_END) is None:
            self._start_front_end()

    def recreate(self, services: list[str], env: dict[str, str] | None = None,
                 force: bool = False) -> None:
        for service in services:
            if self._front_end(service):
                self._start_front_end()
                continue
            self._deploy(service, env)
            if force:
                self._docker("service", "update", "--detach=true", "--force",
                             self._service(service), timeout_s=compose.RECREATE_TIMEOUT_S)
            self._wait(service, env)

    def set_cpuset(self, service: str, cpuset: str) -> None:
        raise EngineError(f"{service}: {swarm.LEFT_OUT['cpuset']}")

    def stop(self, service: str) -> None:
        if self._front_end(service):
            super().stop(service)
            return
        self._docker("service", "scale", "--detach=true", f"{self._service(service)}=0")

    def start(self, service: str) -> None:
        if self._front_end(service):
            self._start_front_end()
            return
        self._docker("service", "scale", "--detach=true", f"{self._service(service)}=1")
        self._wait(service, None)

    def restart(self, service: str) -> None:
        if self._front_end(service):
            super().restart(service)
            return
        self._docker("service", "update", "--detach=true", "--force", self._service(service),
                     timeout_s=compose.RECREATE_TIMEOUT_S)
        self._wait(service, None)

    def remove(self, service: str) -> None:
        """Remove ``service`` and wait until its task is gone (its reservation freed)."""
        if self._front_end(service):
            with contextlib.suppress(docker.errors.NotFound):
                self.client.containers.get(self.FRONT_END_NAME).remove(force=True)
            return
        self._docker("service", "rm", self._service(service), check=False)
        deadline = time.monotonic() + compose.RECREATE_TIMEOUT_S
        while self.client.containers.list(all=True, filters={"label": [
                f"com.docker.swarm.service.name={self._service(service)}"]}):
            if time.monotonic() > deadline:
                raise EngineError(f"{service}'s task still there {compose.RECREATE_TIMEOUT_S} s "
                                  f"after its service was removed")
            time.sleep(0.5)
