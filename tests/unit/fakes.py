"""The host side of a run, faked for the studies' unit tests: an engine (Docker), a probe
(the instruments behind nginx) and a measurer (k6 and the window sampler), all read from
the compose model's files (``support.FakeCompose``). Nothing here runs a container, sends a
request or sleeps.

- ``FakeEngine`` keeps a running ``State`` per service: what ``recreate`` made of the
  declaration with its variables, moved by ``set_cpuset``, removed by ``stop``; every
  change it is asked for is in ``calls``.
- ``FakeProbe`` answers ``/_lab/health`` for what a container runs: the settings its
  command declares (``families.declared``), the Python its variables name, its limits.
- ``FakeMeasurer`` gives each level what an ideal server of the configuration's model
  would (``ideal``), then judges it by the workload's own checks (``measure.judge``).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

from support import FakeCompose
from wsgilab import families, workloads
from wsgilab.lab.compose import ComposeError
from wsgilab.lab.engine import Engine, EngineError, State
from wsgilab.lab.measure import judge
from wsgilab.lab.probe import DEFAULT_BASE_URL, Snapshot
from wsgilab.model import interpreters
from wsgilab.model.facts import Configuration, Facts
from wsgilab.model.levels import Level, cpuset_size
from wsgilab.model.record import LevelRecord
from wsgilab.model.results import ClassResult, LevelResult
from wsgilab.model.theory import cpu_parallelism, open_bound_rps
from wsgilab.workloads.db import usable_connections

MIB = 2**20
#: The front end's cores (compose/nginx.yml): where isolation moves the others.
FRONT_END_CPUSET = "0"
#: The services beside the configurations that ``up`` starts; their commands are their
#: images' own (declared None).
BACKENDS = {
    "nginx": State(None, 1.0, FRONT_END_CPUSET, 128 * MIB, 128 * MIB, 256),
    "postgres": State(None, 1.0, FRONT_END_CPUSET, 512 * MIB, 512 * MIB, 256),
    "upstream": State(None, 0.5, FRONT_END_CPUSET, 128 * MIB, 128 * MIB, 128),
}
#: What the database's agent answers for its settings (``workloads.db.backend``).
POSTGRES_SETTINGS = {"max_connections": 100, "superuser_reserved_connections": 3,
                     "sessions_open": 0}
#: One slice of the cpu endpoint's work on each app image, microseconds (``run_once``).
SLICE_US = {"wsgi-lab/app-demo:dev": 50.0, "wsgi-lab/app-demo:py3.13": 48.0,
            "wsgi-lab/app-demo:py3.13t": 56.0}
#: The Python version each declared interpreter reports (the default: the base image's).
VERSIONS = {"3.11": "3.11.2", "3.13": "3.13.5", "3.13t": "3.13.5"}


def interpreter_of(env: dict[str, str]) -> interpreters.Interpreter:
    """The interpreter a container created with ``env`` runs (its ``APP_IMAGE_TAG``)."""
    tag = env.get("APP_IMAGE_TAG")
    for interp in interpreters.declared().values():
        if tag is not None and interp.tag == tag:
            return interp
    return interpreters.get(interpreters.DEFAULT)


class FakeEngine(Engine):
    """The lab's services as the compose model declares them, all running as declared.

    Attributes:
        calls: every change asked for, in order: ``("recreate", services, env, force)``,
            ``("cpuset", service, cpuset)``, ``("stop", s)``, ``("start", s)``,
            ``("restart", s)``, ``("remove", s)``, ``("up",)``,
            ``("run_once", image, cpuset, as_declared)``.
        live: the running state of each service; env: the variables each was created with.
        unhealthy: ``(service, env items)`` whose recreation does not come up healthy
            (the container is left created, as compose leaves it).
        service_logs: what ``logs`` returns, by service.
    """

    def __init__(self, compose: FakeCompose | None = None) -> None:
        self.compose = compose or FakeCompose()
        self.calls: list[tuple] = []
        self.env: dict[str, dict[str, str]] = {}
        self.live: dict[str, State] = {s: self._created(s, {}) for s in self.services()}
        self.stopped: dict[str, State] = {}
        self.unhealthy: set[tuple[str, tuple]] = set()
        self.service_logs: dict[str, str] = {}

    # --- the model ------------------------------------------------------------------
    def services(self) -> list[str]:
        return sorted([*self.compose.configurations(), *BACKENDS])

    def configurations(self) -> list[str]:
        return self.compose.configurations()

    def declared(self, service: str, env: dict[str, str] | None = None) -> State:
        if service in BACKENDS:
            return BACKENDS[service]
        svc = self.compose.config(env)["services"][service]
        limits = svc["deploy"]["resources"]["limits"]
        return State(tuple(svc["command"]), float(limits["cpus"]), str(svc["cpuset"]),
                     int(limits["memory"]), int(svc["memswap_limit"]), int(limits["pids"]))

    def _created(self, service: str, env: dict[str, str]) -> State:
        self.env[service] = dict(env)
        state = self.declared(service, env)
        if service in BACKENDS:
            return replace(state, command=(service,), image=f"{service}:lab")
        return replace(state, image=interpreter_of(env).app_image)

    def drift(self) -> dict[str, dict]:
        """Every service that does not run as declared (none: ``{}``)."""
        found = {}
        for service in self.services():
            live = self.live.get(service)
            differs = ({"running": (False, True)} if live is None
                       else live.differences(self.declared(service)))
            if differs or self.env.get(service):
                found[service] = differs or {"env": (self.env[service], {})}
        return found

    def recreations(self) -> list[tuple[tuple[str, ...], dict]]:
        """``(services, env)`` of every recreation asked for, in order."""
        return [(c[1], c[2]) for c in self.calls if c[0] == "recreate"]

    # --- live state -----------------------------------------------------------------
    def running(self, service: str) -> State | None:
        return self.live.get(service)

    def logs(self, service: str, tail: int = 60) -> str:
        return self.service_logs.get(service, "")

    def exec(self, service: str, argv: list[str]) -> tuple[int, str]:
        self.calls.append(("exec", service, tuple(argv)))
        if service not in self.live:
            raise EngineError(f"{service} is not running")
        if argv[0] == "cat" and argv[1].endswith("memory.events"):
            return 0, "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"
        if argv[0] == "cat":
            return 1, f"cat: {argv[1]}: No such file or directory"
        return 0, ""

    def describe(self) -> dict:
        return {"docker_engine": "fake", "cgroup_version": "2", "kernel": "fake",
                "host_memory_bytes": 8 * 2**30}

    # --- changes --------------------------------------------------------------------
    def up(self) -> None:
        self.calls.append(("up",))
        for service in self.services():  # compose recreates what its model sees changed
            if service not in self.live or self.env.get(service):
                self.live[service] = self._created(service, {})

    def recreate(self, services: list[str], env: dict[str, str] | None = None,
                 force: bool = False) -> None:
        env = dict(env or {})
        self.calls.append(("recreate", tuple(services), env, force))
        for service in services:
            self.live[service] = self._created(service, env)
            self.stopped.pop(service, None)
        refused = [s for s in services if (s, tuple(sorted(env.items()))) in self.unhealthy]
        if refused:
            raise ComposeError(f"docker compose up failed: {', '.join(refused)} is unhealthy")

    def set_cpuset(self, service: str, cpuset: str) -> None:
        self.calls.append(("cpuset", service, cpuset))
        self.live[service] = replace(self.live[service], cpuset=cpuset)

    def stop(self, service: str) -> None:
        self.calls.append(("stop", service))
        self.stopped[service] = self.live.pop(service)

    def start(self, service: str) -> None:
        self.calls.append(("start", service))
        self.live[service] = self.stopped.pop(service)

    def restart(self, service: str) -> None:
        self.calls.append(("restart", service))
        if service not in self.live:
            raise EngineError(f"{service} is not running")

    def remove(self, service: str) -> None:
        self.calls.append(("remove", service))
        self.live.pop(service, None)
        self.env.pop(service, None)

    def run_once(self, image: str, argv: list[str], cpuset: str, cpus: float,
                 memory: str, pids: int) -> str:
        from wsgilab.studies.python import SINGLE_THREAD_RUNS

        self.calls.append(("run_once", image, cpuset, not self.drift()))
        if image not in SLICE_US:
            raise EngineError(f"{image}: no such image")
        base = SLICE_US[image]
        return json.dumps([base + 0.5 * i for i in range(SINGLE_THREAD_RUNS)]) + "\n"

    def remove_project(self, name: str) -> None:
        self.calls.append(("remove_project", name))

class FakeProbe:
    """Each configuration's instrument, as ``Probe`` asks it through nginx: what its
    container runs, as the instrument would report it.

    Attributes:
        unreachable: services that never answer (``ConnectionError``).
        asked: every service asked, in order.
        idled: every service waited on until idle (``wait_idle``), in order.
    """

    def __init__(self, engine: FakeEngine, base_url: str = DEFAULT_BASE_URL) -> None:
        self.engine, self.base_url = engine, base_url
        self.unreachable: set[str] = set()
        self.asked: list[str] = []
        self.idled: list[str] = []
        self._cpu_ns: dict[str, int] = {}

    def _agent_of(self, container: str) -> None:
        if self.engine.running(container) is None or container in self.unreachable:
            raise ConnectionError(f"{self.base_url}/_lab/{container}/ did not answer")

    def agent(self, container: str, route: str, timeout_s: float = 10.0, **params) -> dict:
        self._agent_of(container)
        if route == "postgres/settings":
            return dict(POSTGRES_SETTINGS)
        raise ConnectionError(f"{self.base_url}/_lab/{container}/{route}: 404")

    def counters(self, container: str, timeout_s: float = 5.0) -> Snapshot:
        self._agent_of(container)
        self._cpu_ns[container] = self._cpu_ns.get(container, 0) + 1_000_000  # 1 ms a reading
        return Snapshot(cpu_ns=self._cpu_ns[container], memory_bytes=120 * MIB,
                        memory_max_bytes=130 * MIB, pids=6)

    def wait_idle(self, container: str, timeout_s: float = 60.0, window_s: float = 0.5) -> float:
        self.idled.append(container)
        self._agent_of(container)
        return 0.0

    def health(self, service: str, timeout_s: float = 10.0) -> dict:
        self.asked.append(service)
        live = self.engine.running(service)
        if live is None or service in self.unreachable:
            raise ConnectionError(f"{self.base_url}/{service}/_lab/health did not answer")
        settings = families.declared(list(live.command))
        capacity = families.model(settings)
        interp = interpreter_of(self.engine.env.get(service, {}))
        serving = max(1, capacity.processes - 1) if capacity.processes > 1 else 1
        pids = [str(100 + i) for i in range(serving)]
        worker_class = settings.get("worker_class")
        return {
            "status": "ok", "inflight": 0, "inflight_by_pid": dict.fromkeys(pids, 0),
            "server": settings,
            "container": {"affinity_cpus": cpuset_size(live.cpuset), "cfs_quota_cpus": live.cpus,
                          "memory_limit_bytes": live.memory_bytes, "pids_limit": live.pids,
                          "os_cpu_count": 2},
            "runtime": {"python": {"version": VERSIONS[interp.name],
                                   "free_threaded_build": interp.free_threaded},
                        "patched_by": worker_class if worker_class in ("gevent", "eventlet")
                        else ("gevent" if settings.get("gevent") else None),
                        "db_pool_size": 4},
            "app": {"db_pool_size": 4},
            "processes": {pid: {"gil_enabled": not interp.free_threaded,
                                "memory": {"pss_bytes": 40 * MIB}} for pid in pids},
            "served_by_pid": dict.fromkeys(pids, 0),
        }

    def wait_reachable(self, service: str, timeout_s: float = 30.0, poll_s: float = 0.25) -> dict:
        return self.health(service)

    def wait_drained(self, service: str, timeout_s: float = 60.0, poll_s: float = 0.2) -> float:
        self.health(service)
        return 0.0


#: The steady window of every faked level (seconds), and the CPU the server spends per
#: request outside the app's own work (ms).
WINDOW_S = 4.0
SERVER_CPU_MS = 2.0
#: The workloads ``ideal`` knows: one request class each.
SIMULATED = ("io", "cpu", "db")


def ideal(level: Level, cfg: Configuration, facts: Facts) -> tuple[LevelResult, dict]:
    """What a server that is exactly its model (``cfg.capacity``) shows at ``level``: the
    k6 result and the usage over the steady window.

    Closed: min(VUs, cap) requests in the app; each holds its service time (``io``,
    ``db``) or a share of the CPUs it may use (``cpu``). Open: the rate served up to the
    model's bound, a queue past it (latency grows, arrivals are dropped).
    """
    workload = workloads.get(level.workload)
    if level.workload not in SIMULATED:
        raise NotImplementedError(f"no ideal server for workload {level.workload}")
    cap, service_s = cfg.capacity, workload.service_ms(dict(level.params)) / 1000.0
    cpu = level.workload == "cpu"
    usable, _ = cpu_parallelism(cap, facts.cpus, facts.cpuset_cpus, 0.0)
    usage: dict = {"k6_wall_s": 5.3, "k6_cpu_s": 0.2, "k6_cpu_fraction": 0.04,
                   "window_sampled_s": WINDOW_S - 0.5, "load_cores_busy": 0.3,
                   "app_memory_bytes": cap.processes * 40 * MIB,
                   "app_memory_max_bytes": cap.processes * 42 * MIB,
                   "app_pids": cap.processes + 4, "app_throttled_periods": 0}
    dropped = 0
    if level.closed:
        inside = level.vus if cap.limit is None else min(level.vus, cap.limit)
        rate = min(inside, usable) / service_s if cpu else inside / service_s
        completions = round(rate * WINDOW_S)
        latency_s = level.vus / rate
        app_s = inside / rate
        peak = inside
    else:
        offered = level.load.rate_rps
        bound = (usable / service_s if cpu
                 else open_bound_rps(cap, workload.service_ms(dict(level.params))))
        rate = offered if bound is None else min(offered, bound)
        past = bound is not None and offered > bound
        completions = math.floor(rate * WINDOW_S)
        app_s = service_s
        latency_s = (service_s * (1 + 10 * (offered / bound - 1)) if past
                     else service_s + SERVER_CPU_MS / 1000.0)
        inside = rate * app_s
        peak = cap.limit if past and cap.limit else min(math.ceil(inside) + 1, cap.limit or 10**6)
        dropped = round((offered - rate) * WINDOW_S) if past else 0
        usage["arrivals_sent"] = round(offered * WINDOW_S)
    throughput = completions / WINDOW_S
    used = (min(inside, usable) if cpu else 0.0) + throughput * SERVER_CPU_MS / 1000.0
    usage.update(app_cpu_fraction=used, app_cores_busy_cpus=used)
    if level.workload == "db":
        if level.param("connections") == "pool":
            limit = facts.app["db_pool_size"] * cap.parallelism
        else:
            limit = usable_connections(facts.backend)[0]
        usage.update(db_active_peak=min(peak, limit), db_samples=int(WINDOW_S * 10),
                     postgres_cpu_fraction=0.05)
    name = workload.classes[0]
    result = LevelResult(
        params={"script": workload.script, "service": level.configuration,
                "windows": {name: [1, 1 + WINDOW_S]}, "classes": [name]},
        classes={name: ClassResult(
            window_s=WINDOW_S, completions=completions, throughput_rps=throughput,
            latency_mean_ms=latency_s * 1000, latency_p50_ms=latency_s * 1000,
            latency_p95_ms=latency_s * 1050, latency_p99_ms=latency_s * 1100,
            app_time_ms=app_s * 1000, cpu_time_ms=service_s * 1000 if cpu else None,
            app_inflight_s=completions * app_s)},
        server_peak=peak, requests=completions + peak, failures=0,
        dropped_iterations=dropped)
    return result, usage


class FakeMeasurer:
    """A run's ``measurer``: each level as an ideal server gives it (``ideal``), with the
    workload's backend read through the probe and judged by its own checks.

    Args:
        stop_at: the level (1-based) at which the run is stopped: Ctrl-C arrives while it
            runs (KeyboardInterrupt), and it is not measured.

    Attributes:
        levels: the levels measured, in order; states: the configuration's running
            container when each was; drifts: what differed from the declaration then
            (``FakeEngine.drift``).
    """

    def __init__(self, engine: FakeEngine, probe: FakeProbe, stop_at: int | None = None) -> None:
        self.engine, self.probe, self.stop_at = engine, probe, stop_at
        self.levels: list[Level] = []
        self.states: list[State | None] = []
        self.drifts: list[dict] = []

    def __call__(self, level: Level, cfg: Configuration, containers: tuple[str, ...]) -> LevelRecord:
        if self.stop_at is not None and len(self.levels) + 1 >= self.stop_at:
            raise KeyboardInterrupt
        self.levels.append(level)
        self.states.append(self.engine.running(level.configuration))
        self.drifts.append(self.engine.drift())
        workload = workloads.get(level.workload)
        entry = LevelRecord(level, configuration=cfg,
                            summary=f"{level.configuration}/{level.slug}.summary.json")
        entry.backend = workload.backend(self.probe) if workload.backend else {}
        facts = cfg.facts(entry.backend)
        entry.checks = workload.expect(facts, level)
        entry.result, entry.usage = ideal(level, cfg, facts)
        after = self.probe.health(level.configuration)
        return judge(entry, facts, after["processes"], level.variant.python)
