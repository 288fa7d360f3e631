"""Docker Swarm stack files from the lab's own model: its compose services, as swarm services.

Nothing here talks to a swarm: each function turns what the lab already declares (the
resolved compose model, ``wsgilab.lab.compose.config``) into a stack file for
``docker stack deploy`` (a dict, laid out as YAML by ``write``). docs/clusters.md says
how to run one on several machines and what differs from compose.

- Each service keeps its image, command, environment, user, read-only root, dropped
  capabilities, healthcheck and stop signal, and its tmpfs as a tmpfs mount (a stack
  ignores compose's ``tmpfs`` key). Its limits become
  ``deploy.resources.limits`` (CPUs, memory, pids) and, equal to them, its reservations,
  so that the scheduler places it only where they are free (Docker docs, "Compose Deploy
  Specification": ``resources``). It runs one replica (the lab measures one container),
  is not restarted by the swarm (compose's ``restart: "no"``), and resolves by DNS round
  robin (``endpoint_mode: dnsrr``): this machine's kernel has no IPVS for the virtual IP.
- Placement by node label: the configurations and the backends on nodes labelled
  ``lab.role=sut``, the load (with its front end) on ``lab.role=load``, so that the load
  generator never shares the measured node's cores (a single node, labelled ``both``,
  takes both).
- Nothing is published: a swarm port binds every interface of a node, and the lab publishes
  on 127.0.0.1 only. The load runs inside the stack's own overlay networks instead.
- What swarm cannot express is never dropped silently: ``refused`` names it for each service
  (``LEFT_OUT``), and a level that needs it (its own cpuset) is refused before any load by
  ``check_level``.
- The load is a stack of its own per level (``load``): a replicated service of N tasks of
  the load image (services/load/Dockerfile: the lab's own front end image with k6 and the
  lab's scripts added), each running nginx on its own loopback and k6 on the execution
  segment its task slot picks (``LOAD_SCRIPT``; the segments are
  ``kubernetes.execution_segments``', one arithmetic for both), its summary on its standard
  output (``docker service logs``). k6/lib/lab.js's rule, load to 127.0.0.1 only, holds
  as it does in a Kubernetes load pod: swarm has no sidecars, so the front end runs in the
  same container. The front end is therefore no service of the stack.

Validated offline by tests/unit/test_swarm.py (``docker stack config``, which parses a stack
file as ``docker stack deploy`` would, without a swarm).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from wsgilab.lab.compose import CONFIGURATION_ROLE, ROLE_LABEL
from wsgilab.lab.k6 import k6_binary
from wsgilab.lab.kubernetes import (
    FRONT_END_ROLE,
    LAB_LOAD_VUS,
    LOAD_DURATION_S,
    LOAD_WARMUP_S,
    execution_segments,
    lab_load,
)
from wsgilab.model.load import Closed, Load
from wsgilab.model.paths import ROOT

#: The node label that places a service (``docker node update --label-add lab.role=sut``).
NODE_LABEL = "lab.role"
SUT_NODES = "sut"
LOAD_NODES = "load"
#: The stack's name (``docker stack deploy ... wsgi-lab-swarm``: not the compose project's,
#: whose networks hold ``wsgi-lab_*``); a level's load is
#: ``<STACK>-load``.
STACK = "wsgi-lab-swarm"
#: The load image: the front end's image with k6 and the lab's k6 scripts
#: (services/load/Dockerfile); its nginx listens on the task's loopback only.
LOAD_IMAGE = "wsgi-lab/load:dev"
LOAD_DOCKERFILE = ROOT / "services" / "load" / "Dockerfile"
#: Where ``build_load_image`` stages the image's context.
LOAD_CONTEXT = ROOT / "build" / "load"
#: The front end's image the load image is built from (compose/nginx.yml's).
FRONT_END_IMAGE = "wsgi-lab/nginx:dev"
#: The most seconds the load image's build may take (a few layers over a built image).
BUILD_TIMEOUT_S = 300
#: The load's BASE_URL: the front end on the task's own loopback (k6/lib/lab.js's rule).
BASE_URL = "http://127.0.0.1:8080"
#: How long a load task waits for its own front end to answer before giving up (seconds).
FRONT_END_WAIT_S = 10
#: Compose keys carried as they are (the stack file format takes them).
CARRIED = ("image", "command", "entrypoint", "environment", "labels", "user", "read_only",
           "cap_drop", "cap_add", "healthcheck", "stop_signal", "stop_grace_period",
           "ulimits")
#: Compose keys a swarm service cannot take, and why: named for each service that declares
#: one (``refused``), never dropped silently.
LEFT_OUT = {
    "cpuset": "a swarm service cannot be pinned to a cpuset (docker service create has no "
              "such option): its CPUs are the quota's only",
    "memswap_limit": "a swarm service has no swap limit: its memory limit only",
    "security_opt": "a swarm service takes no security options (no-new-privileges): the "
                    "non-root user and the dropped capabilities remain",
    "build": "a swarm builds nothing: build or load the image on each node",
    "ports": "a swarm port binds every interface of a node; the lab publishes on 127.0.0.1 "
             "only, so nothing is published and the load runs on the overlay",
    "depends_on": "a swarm starts services together: the lab waits on each one's health",
    "profiles": "compose profiles choose what `up` starts; a stack deploys what it lists",
}
#: Compose keys said another way on a swarm: compose's ``restart: "no"`` as the restart
#: policy ``none``; each compose network as an overlay of the stack; ``tmpfs`` as a tmpfs
#: mount (``tmpfs_mounts``).
TRANSLATED = frozenset({"restart", "networks", "tmpfs"})
#: Keys of a resolved compose service that say nothing swarm needs (compose's own).
IGNORED = frozenset({"container_name", "pull_policy", "init"})
#: k6 in the swarm: its task's CPUs and memory, as on a cluster (``kubernetes.LOAD_CPU``).
LOAD_CPUS = "1"
LOAD_MEMORY = "512M"
#: Where the load image holds the lab's k6 scripts (services/load/Dockerfile).
SCRIPTS_DIR = "/scripts"

#: The shell each load task runs: ``TASK_SLOT`` (``{{.Task.Slot}}``, from 1) picks its
#: segment from the list ``execution_segments`` computed (every task shares the
#: sequence); it starts the front end on its loopback, waits at most FRONT_END_WAIT_S for
#: it to answer, then runs k6 against it.
LOAD_SCRIPT = """\
set -eu
case "${TASK_SLOT:-}" in
  ''|*[!0-9]*) echo "TASK_SLOT must be this task's slot, got '${TASK_SLOT:-}'" >&2; exit 2;;
esac
script="$1"
set -- $K6_SEGMENTS
if [ "$TASK_SLOT" -lt 1 ] || [ "$TASK_SLOT" -gt "$#" ]; then
  echo "slot $TASK_SLOT has no segment: the load has $# of them" >&2; exit 2
fi
shift "$((TASK_SLOT - 1))"
# LAB_NO_FRONT_END: the script's own test, which has no nginx to start.
if [ -z "${LAB_NO_FRONT_END:-}" ]; then
  nginx -e stderr -c /etc/nginx/nginx-load.conf -g 'daemon on;'
  tries=$((FRONT_END_WAIT_S * 5))
  until bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080' 2>/dev/null; do
    tries=$((tries - 1))
    if [ "$tries" -le 0 ]; then echo "the front end did not answer on loopback" >&2; exit 3; fi
    sleep 0.2
  done
fi
exec k6 run --quiet --no-usage-report --no-color \\
  --execution-segment "$1" --execution-segment-sequence "$K6_SEGMENT_SEQUENCE" \\
  "$K6_SCRIPTS/$script"
"""


class SwarmRefused(ValueError):
    """What the lab asked cannot be expressed on a swarm (a level's own cpuset)."""


def refused(svc: dict) -> dict[str, str]:
    """``{key: why}`` for each compose key of ``svc`` a swarm service cannot take."""
    return {key: why for key, why in LEFT_OUT.items() if svc.get(key) not in (None, [], {}, "")}


def _placement(nodes: str) -> str:
    """The constraint that keeps a task off the other kind's nodes: ``!=``, since a
    constraint list is a conjunction and a single node must take both kinds (labelled
    ``both``, or anything but ``sut`` and ``load``)."""
    other = LOAD_NODES if nodes == SUT_NODES else SUT_NODES
    return f"node.labels.{NODE_LABEL} != {other}"


#: A tmpfs size's suffixes (``size=160m``), in bytes.
_SIZE_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def tmpfs_mounts(entries: list[str] | str | None) -> list[dict]:
    """Compose's ``tmpfs`` entries (``/tmp`` or ``/tmp:size=64m,mode=1777``) as the long
    volume syntax's tmpfs mounts: a stack ignores the ``tmpfs`` key (Docker docs, "tmpfs
    mounts": ``--tmpfs`` cannot be used with swarm services, ``--mount`` must), and a
    read-only root then has no writable /tmp (measured: the load's nginx stopped at
    ``mkdir() "/tmp/client_body" failed (30: Read-only file system)``). A ``size`` is
    kept in bytes; other options are left to the mount's defaults (mode 1777).

    Raises:
        ValueError: a size that is not a number of bytes with an optional k, m or g.
    """
    if isinstance(entries, str):
        entries = [entries]
    mounts = []
    for entry in entries or []:
        target, _, options = entry.partition(":")
        mount: dict = {"type": "tmpfs", "target": target}
        for option in filter(None, options.split(",")):
            key, _, value = option.partition("=")
            if key == "size":
                number, unit = (value[:-1], value[-1].lower()) if value[-1:].isalpha() else (value, "")
                if not number.isdigit() or unit not in ("", *_SIZE_UNITS):
                    raise ValueError(f"tmpfs {entry!r}: a size must be bytes, or k, m or g")
                mount["tmpfs"] = {"size": int(number) * _SIZE_UNITS.get(unit, 1)}
        mounts.append(mount)
    return mounts


def service(name: str, svc: dict) -> dict:
    """One resolved compose service as a swarm service.

    Raises:
        KeyError: no CPU or memory limit declared (every lab service has both).
        ValueError: a compose key neither carried, left out nor ignored: an unknown key
            is never dropped silently.
    """
    unknown = set(svc) - set(CARRIED) - set(LEFT_OUT) - TRANSLATED - IGNORED - {"deploy"}
    if unknown:
        raise ValueError(f"{name}: compose keys with no swarm translation: {', '.join(sorted(unknown))}")
    found = {key: svc[key] for key in CARRIED if svc.get(key) not in (None, [], {}, "")}
    limits = svc["deploy"]["resources"]["limits"]
    cpus, memory = str(limits["cpus"]), str(limits["memory"])
    declared = {"cpus": cpus, "memory": memory}
    if limits.get("pids") is not None:
        declared["pids"] = int(limits["pids"])
    found["deploy"] = {
        "mode": "replicated", "replicas": 1, "endpoint_mode": "dnsrr",
        "resources": {"limits": declared, "reservations": {"cpus": cpus, "memory": memory}},
        "restart_policy": {"condition": "none"},
        "placement": {"constraints": [_placement(SUT_NODES)]},
        # One container at a time: two side by side on a node's CPUs measure neither.
        "update_config": {"order": "stop-first"},
    }
    found["networks"] = sorted(svc.get("networks") or {"backend": None})
    if svc.get("tmpfs"):
        found["volumes"] = tmpfs_mounts(svc["tmpfs"])
    left = refused(svc)
    if left:
        found["labels"] = {**(found.get("labels") or {}),
                           "lab.swarm.left-out": ", ".join(sorted(left))}
    return found


def stack(model: dict, only: list[str] | None = None) -> dict:
    """The lab's compose model as one stack file: every service (``service``; ``only``:
    these), but the front end, which each load task runs itself (``load``), and each
    compose network as an attachable overlay (an internal one stays internal).

    Raises:
        ValueError: what ``service`` refuses, or a name of ``only`` the model lacks.
    """
    services = {name: service(name, svc) for name, svc in sorted(model["services"].items())
                if (only is None or name in only)
                and (svc.get("labels") or {}).get(ROLE_LABEL) != FRONT_END_ROLE}
    missing = sorted(set(only or ()) - set(services))
    if missing:
        raise ValueError(f"no such service in the model (or a front end): {', '.join(missing)}")
    networks = {}
    for name, net in sorted((model.get("networks") or {}).items()):
        networks[name] = {"driver": "overlay", "attachable": True,
                          **({"internal": True} if (net or {}).get("internal") else {})}
    return {"services": services, "networks": networks}


def left_out(model: dict) -> dict[str, dict[str, str]]:
    """``{service: {key: why}}``: what the stack leaves out of each service."""
    return {name: found for name, svc in sorted(model["services"].items())
            if (found := refused(svc))}


def configurations(model: dict) -> list[str]:
    """The model's configurations (``lab.role: configuration``), sorted."""
    return sorted(n for n, s in model["services"].items()
                  if (s.get("labels") or {}).get(ROLE_LABEL) == CONFIGURATION_ROLE)


def check_level(name: str, cpuset: str | None) -> None:
    """Refuse, before any load, a level that needs its own cpuset on a swarm.

    Raises:
        SwarmRefused: ``cpuset`` given.
    """
    if cpuset:
        raise SwarmRefused(f"{name}: this level pins the configuration to cores {cpuset}; "
                           f"{LEFT_OUT['cpuset']}. Run it with the compose engine.")


def load(target: str, script: str, params: dict[str, str], level_load: Load, instances: int,
         duration_s: int, warmup_s: int, networks: list[str], image: str = LOAD_IMAGE,
         cpus: str = LOAD_CPUS) -> dict:
    """One level's load on ``target`` as a stack of one service: the load image as a
    replicated service of ``instances`` tasks on load nodes, each its own front end on
    loopback and k6 on its execution segment (``LOAD_SCRIPT``), its summary on its
    standard output; ``cpus`` each (a single node's reservations must fit beside the
    configuration's). The load ends by itself: k6's duration bounds it,
    and a failed task is not retried (its segment would run later than the others).

    Raises:
        ValueError: ``instances`` below 1 (``execution_segments``).
    """
    segments, sequence = execution_segments(instances)
    env = {"SERVICE": target, "BASE_URL": BASE_URL, "FRONT_END_WAIT_S": str(FRONT_END_WAIT_S),
           **level_load.k6_env(), **params, "DURATION_S": str(duration_s),
           "WARMUP_S": str(warmup_s), "SUMMARY_PATH": "stdout",
           "K6_SEGMENTS": " ".join(segments), "K6_SEGMENT_SEQUENCE": sequence,
           "K6_SCRIPTS": SCRIPTS_DIR, "TASK_SLOT": "{{.Task.Slot}}",
           "K6_NO_USAGE_REPORT": "true", "HOME": "/tmp"}
    return {"services": {f"load-{target}": {
        "image": image,
        "entrypoint": ["/bin/sh", "-c", LOAD_SCRIPT, "load", script],
        "environment": env,
        "user": "10001:10001", "read_only": True, "cap_drop": ["ALL"],
        "volumes": tmpfs_mounts(["/tmp"]),
        # The front end's two descriptors per proxied request (compose/nginx.yml's).
        "ulimits": {"nofile": {"soft": 8192, "hard": 8192}},
        "networks": networks,
        # A replicated service, not a replicated-job: a job's tasks do not each get a slot
        # of their own (measured here: the second task had none, and failed), and with no
        # restart each task stays Complete once its k6 exits.
        "deploy": {"mode": "replicated", "replicas": instances,
                   "resources": {"limits": {"cpus": cpus, "memory": LOAD_MEMORY},
                                 "reservations": {"cpus": cpus, "memory": LOAD_MEMORY}},
                   "restart_policy": {"condition": "none"},
                   "placement": {"constraints": [_placement(LOAD_NODES)]}},
    }}, "networks": {n: {"external": True, "name": f"{STACK}_{n}"} for n in networks}}


def loads(model: dict, stack: dict, instances: int) -> dict[str, dict]:
    """``{configuration: its load stack}`` for every configuration of ``model`` (its
    services in ``stack``, from ``stack(model)``): the lab's load on a cluster
    (``kubernetes.lab_load``, LAB_LOAD_VUS closed, LOAD_DURATION_S long), each joining its
    configuration's own networks, since a stack creates only the networks its services use.

    Raises:
        ValueError: ``instances`` below 1.
    """
    workload, params = lab_load()
    return {name: load(name, workload.script, params, Closed(LAB_LOAD_VUS), instances,
                       LOAD_DURATION_S, LOAD_WARMUP_S, stack["services"][name]["networks"])
            for name in configurations(model)}


def stage_load(context: Path = LOAD_CONTEXT) -> Path:
    """Stage the load image's build context: k6's binary (the one the lab runs here) and
    the lab's k6 scripts (``k6/``), fresh each time.

    Raises:
        K6Error: no k6 binary (``make setup``).
    """
    if context.exists():
        shutil.rmtree(context)
    context.mkdir(parents=True)
    shutil.copy2(k6_binary(), context / "k6")
    shutil.copytree(ROOT / "k6", context / "scripts")
    return context


def build_load_image(image: str = LOAD_IMAGE, front_end: str = FRONT_END_IMAGE) -> str:
    """Build the load image from ``front_end`` (built by ``make up``) with the docker CLI;
    returns its tag.

    Raises:
        RuntimeError: the build failed or ran past BUILD_TIMEOUT_S (its output's tail).
    """
    context = stage_load()
    try:
        run = subprocess.run(["docker", "build", "--quiet", "--tag", image, "--file",
                              str(LOAD_DOCKERFILE), "--build-arg", f"FRONT_END_IMAGE={front_end}",
                              str(context)], capture_output=True, text=True,
                             timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the load image's build ran past {BUILD_TIMEOUT_S} s") from None
    if run.returncode != 0:
        raise RuntimeError(f"the load image did not build: {(run.stderr or run.stdout)[-800:]}")
    return image


def _escaped(value):
    """``value`` with every ``$`` in its strings written ``$$``: ``docker stack deploy``
    interpolates ``$NAME`` and ``${NAME}`` from the deploying shell's environment, as
    compose does (the compose file reference, "Interpolation"), and the model is resolved
    already; unescaped, the load's shell script lost every variable and each task exited
    before any load."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


def write(document: dict, path: Path) -> Path:
    """``document`` as YAML at ``path`` (its folder made), its strings escaped for the
    stack's interpolation (``_escaped``): what a task runs is what ``document`` says."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(_escaped(document), sort_keys=False,
                                   default_flow_style=False))
    return path
