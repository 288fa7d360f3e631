"""The lab's configurations on a Docker Swarm (``make test-swarm``; not in ``make test``: it
turns this engine into a single-node swarm for about five minutes, and leaves it).

The test starts a swarm only where none is active (a swarm it did not start is not its
to change), on loopback, with the compose lab down (running, it is taken down and started
again after), and labels the node for both kinds of task. Then, for each bounded
configuration of the default plan's io levels, one at a time (a single node's two CPUs hold
one configuration's reservation beside its load's): it deploys the configuration from the
lab's own model (``swarm.stack``) and the same level the default plan runs under compose
(io, 40 VUs, 5 s with 1 s of warm-up), split over two k6 tasks (``swarm.load``), reads each
task's summary from its log, and checks what the compose engine checks: the peak in flight
equals the configuration's cap. Each level prints its figures beside records/default's
same level. It removes the stacks and leaves the swarm, whatever happens: the engine as it
found it.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from wsgilab import workloads
from wsgilab.lab import compose, swarm
from wsgilab.model.load import Closed

pytestmark = pytest.mark.swarm

#: The bounded configurations of the default plan's io levels and their caps (their
#: compose/<name>.yml: workers, workers x threads with --worker-connections = threads,
#: processes x threads, threads, async cores): each level's peak must equal its cap.
CAPS = {"gunicorn-sync": 4, "gunicorn-gthread-wc": 8, "uwsgi-threads": 8,
        "uwsgi-processes": 4, "waitress": 4, "uwsgi-gevent": 16}
#: The default plan's io level (wsgilab/workloads/io.py), split between two k6 tasks: each
#: its execution segment, and half a CPU reserved, so that with the configuration's one the
#: node's two CPUs hold them all.
VUS = 40
INSTANCES = 2
LOAD_CPUS = "0.5"
DURATION_S, WARMUP_S = 5, 1
#: The compose record the swarm's figures are printed beside.
COMPOSE_RECORD = Path(__file__).parents[2] / "records" / "default" / "bench.json"
#: How long a stack may take to converge, and the load job to finish (seconds): bounds on
#: every wait, so that the test stops by itself.
CONVERGE_S = 120
JOB_S = DURATION_S + 90


def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    run = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and run.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {run.stderr.strip() or run.stdout.strip()}")
    return run.stdout


def deploy(path, stack: str) -> None:
    """``docker stack deploy`` of ``path`` as ``stack``: the images are this engine's own,
    never looked up in a registry."""
    docker("stack", "deploy", "--detach=true", "--resolve-image", "never", "-c", str(path), stack)


def _wait(what: str, ready, timeout_s: float, logs=lambda: "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(1)
    pytest.fail(f"{what} not within {timeout_s:.0f} s; logs:\n{logs()}", pytrace=False)


def _tasks(service: str) -> list[dict]:
    out = docker("service", "ps", "--no-trunc", "--format", "{{json .}}", service, check=False)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def single_node_swarm():
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip()
    if state != "inactive":
        pytest.skip(f"this engine's swarm is {state}: not this test's to change")
    # The lab's images, built as `make up` builds them, without starting it: containers
    # of a bridge network that were running across swarm init and leave no longer resolve
    # each other's names (measured here, Docker 26.1: nginx's "could not be resolved",
    # 502 for every configuration, until they were recreated).
    was_up = bool(compose.compose("ps", "--quiet", capture=True).split())
    if was_up:
        compose.down()
    try:
        compose.build()
        swarm.build_load_image()
        # swarm init adds docker_gwbridge, and leaving keeps it: removed after, if it was
        # not here.
        bridge = docker("network", "ls", "-q", "--filter", "name=^docker_gwbridge$").strip()
        docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:2377")
        try:
            node = docker("info", "--format", "{{.Swarm.NodeID}}").strip()
            docker("node", "update", "--label-add", f"{swarm.NODE_LABEL}=both", node)
            yield
        finally:
            for stack in (f"{swarm.STACK}-load", swarm.STACK):
                docker("stack", "rm", stack, check=False)
            docker("swarm", "leave", "--force", check=False)
            if not bridge:
                docker("network", "rm", "docker_gwbridge", check=False)
    finally:
        if was_up:  # the lab as the test found it: running, its containers made anew
            compose.up()


def _compose_level(configuration: str) -> str:
    """records/default's io level at VUS on ``configuration``, as a line, or ""."""
    if not COMPOSE_RECORD.exists():
        return ""
    for entry in json.loads(COMPOSE_RECORD.read_text())["levels"]:
        level, figures = entry["level"], entry.get("figures") or {}
        if (level["configuration"] == configuration and level["workload"] == "io"
                and level["load"] == {"model": "closed", "vus": VUS}
                and not any(v for v in (level.get("variant") or {}).values())):
            return (f"compose (records/default): peak {figures.get('server_peak'):.0f}, "
                    f"{figures.get('throughput_rps'):.1f} req/s")
    return ""


def _gone(stack: str) -> bool:
    return not docker("stack", "ps", "-q", stack, check=False).split()


@pytest.mark.parametrize("configuration", sorted(CAPS))
def test_a_bounded_configuration_reaches_its_cap_on_a_swarm_as_under_compose(
        single_node_swarm, tmp_path, configuration):
    model = compose.config()
    stack = swarm.stack(model, only=[configuration])
    load_stack = f"{swarm.STACK}-load"
    try:
        _run_level(configuration, model, stack, load_stack, tmp_path)
    finally:  # the node's reservations freed for the next configuration
        for name in (load_stack, swarm.STACK):
            docker("stack", "rm", name, check=False)
        for name in (load_stack, swarm.STACK):
            _wait(f"stack {name} removed", lambda n=name: _gone(n), CONVERGE_S)


def _run_level(configuration: str, model: dict, stack: dict, load_stack: str, tmp_path) -> None:
    cap = CAPS[configuration]
    deploy(swarm.write(stack, tmp_path / "stack.yml"), swarm.STACK)
    service = f"{swarm.STACK}_{configuration}"

    def healthy() -> bool:
        ids = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}",
                     "--filter", "health=healthy", check=False).split()
        return len(ids) == 1

    _wait(f"{service} healthy", healthy, CONVERGE_S,
          lambda: docker("service", "ps", "--no-trunc", service, check=False)
          + docker("service", "logs", "--tail", "40", service, check=False))
    io = workloads.get("io")
    params = {p.env: str(p.default) for p in io.params}
    load = swarm.load(configuration, io.script, params, Closed(VUS), INSTANCES, DURATION_S,
                      WARMUP_S, stack["services"][configuration]["networks"], cpus=LOAD_CPUS)
    deploy(swarm.write(load, tmp_path / "load.yml"), load_stack)
    job = f"{load_stack}_load-{configuration}"
    _wait(f"{job}'s {INSTANCES} tasks complete",
          lambda: [t["CurrentState"].split()[0] for t in _tasks(job)].count("Complete") == INSTANCES
          or any(t["CurrentState"].startswith(("Failed", "Rejected")) for t in _tasks(job)),
          JOB_S, lambda: docker("service", "logs", "--tail", "60", job, check=False))
    failed = [t for t in _tasks(job) if not t["CurrentState"].startswith("Complete")]
    assert not failed, (f"expected {INSTANCES} complete tasks, got {failed}\n"
                        + docker("service", "logs", "--tail", "60", job, check=False))
    peaks, completions = [], 0
    for task in _tasks(job):
        text = docker("service", "logs", "--raw", task["ID"])
        summary = json.loads(text[text.index("{"):text.rindex("}") + 1])
        metrics = summary["metrics"]
        peaks.append(metrics["server_inflight"]["values"]["max"])
        completions += metrics["steady_completions_io"]["values"]["count"]
    assert max(peaks) == cap, f"expected a peak of {cap} (the cap), measured {peaks} per task"
    assert completions > 0, "no io request completed in the steady window"
    print(f"\nswarm: {configuration} io at {VUS} VUs in {INSTANCES} k6 tasks: peaks {peaks} "
          f"(cap {cap}), {completions / (DURATION_S - WARMUP_S):.1f} req/s; "
          f"{_compose_level(configuration)}")
