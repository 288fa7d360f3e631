"""The Kubernetes manifests (wsgilab/lab/kubernetes.py), checked offline: they validate
against the schemas of ``KUBERNETES_VERSION`` (kubernetes-validate), every pod is
Guaranteed with the compose limits and keeps the lab's hardening, the load's Indexed Job
covers the load exactly once, and an advise recommendation renders as its Deployment.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
import yaml

from labinstrument import agent
from support import RECORDS, ROOT, FakeCompose
from wsgilab import cli
from wsgilab.lab import compose, kubernetes
from wsgilab.model.levels import memory_bytes
from wsgilab.model.load import RATE_TIME_UNIT_S
from wsgilab.model.record import BenchRecord

ADVISE_RECORDS = ("advise-shop", "advise-notes")


def validator():
    """kubernetes-validate (requirements/dev.in). Skipped only where this virtualenv was
    installed before the lock that brings it (``make venv``, which ``make unit`` and ``make
    test`` run first, installs it): anywhere else its absence fails."""
    try:
        return importlib.import_module("kubernetes_validate")
    except ImportError:
        marker = Path(sys.prefix) / ".installed"
        lock = ROOT / "requirements" / "dev.lock"
        if marker.exists() and marker.stat().st_mtime < lock.stat().st_mtime:
            pytest.skip("kubernetes-validate is not installed: this virtualenv predates "
                        "requirements/dev.lock (make venv installs it)")
        raise


@pytest.fixture(scope="module")
def model() -> dict:
    return FakeCompose().config(backends=True)


@pytest.fixture(scope="module")
def lab(model) -> kubernetes.Bundle:
    return kubernetes.lab(model)


@pytest.fixture(scope="module")
def advised() -> dict[str, kubernetes.Bundle]:
    return {name: kubernetes.advise(BenchRecord.load(RECORDS / name)) for name in ADVISE_RECORDS}


def documents(bundle: kubernetes.Bundle) -> list[dict]:
    return [doc for docs in bundle.values() for doc in docs]


def every_bundle(lab, advised) -> list[kubernetes.Bundle]:
    return [lab, *advised.values()]


def pods(bundle: kubernetes.Bundle) -> list[tuple[str, dict]]:
    """``(kind/name, pod spec)`` of every Deployment and Job."""
    return [(f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"])
            for d in documents(bundle) if d["kind"] in ("Deployment", "Job")]


def containers(pod: dict) -> list[dict]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def of_kind(bundle: kubernetes.Bundle, kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents(bundle) if d["kind"] == kind}


def cpus_of(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def bytes_of(quantity: str) -> int:
    units = {"Gi": 2**30, "Mi": 2**20, "Ki": 2**10}
    return int(quantity[:-2]) * units[quantity[-2:]] if quantity[-2:] in units else int(quantity)


# --- the segments -----------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 12, 16])
def test_the_segments_cover_the_load_exactly_once(n):
    segments, sequence = kubernetes.execution_segments(n)
    points = [Fraction(p) for p in sequence.split(",")]
    assert points == [Fraction(i, n) for i in range(n + 1)], "the sequence: 0, 1/n, ..., 1"
    spans = [tuple(Fraction(p) for p in s.split(":")) for s in segments]
    assert len(spans) == n
    assert spans[0][0] == 0 and spans[-1][1] == 1, "the segments start at 0 and end at 1"
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end == start, f"a gap or an overlap between segments: {segments}"
    assert all(end - start == Fraction(1, n) for start, end in spans), "equal shares"
    assert sum(end - start for start, end in spans) == 1
    assert {p for span in spans for p in span} == set(points), "each segment's ends are in the sequence"


def test_a_load_needs_an_instance():
    with pytest.raises(ValueError, match="at least 1"):
        kubernetes.execution_segments(0)


def _run_load_script(job: dict, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """The k6 container's command, run by /bin/sh with its own environment and a k6 that
    prints its arguments: what each pod of the Job would run."""
    k6 = job["spec"]["template"]["spec"]["containers"][0]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "k6"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    fake.chmod(0o755)
    variables = {e["name"]: e["value"] for e in k6["env"]}
    return subprocess.run(k6["command"], capture_output=True, text=True, timeout=30,
                          env={"PATH": f"{bin_dir}:{os.environ['PATH']}", **variables, **env})


@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="no POSIX shell")
def test_each_load_pod_takes_the_segment_its_index_picks(model, tmp_path):
    n = 3
    job = kubernetes.lab(model, instances=n)["load/gunicorn-sync.yaml"][0]
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] == n
    assert spec["backoffLimit"] == 0, "a failed segment is not run again later"
    segments, sequence = kubernetes.execution_segments(n)
    taken = []
    for index in range(n):
        ran = _run_load_script(job, tmp_path, JOB_COMPLETION_INDEX=str(index))
        assert ran.returncode == 0, ran.stderr
        argv = ran.stdout.splitlines()
        assert argv[:1] == ["run"] and argv[-1] == f"{kubernetes.SCRIPTS_DIR}/io.js"
        taken.append(argv[argv.index("--execution-segment") + 1])
        assert argv[argv.index("--execution-segment-sequence") + 1] == sequence
    assert taken == segments, "index i runs segment i, each once"
    for bad in ("", "x", str(n)):
        ran = _run_load_script(job, tmp_path, JOB_COMPLETION_INDEX=bad)
        assert ran.returncode == 2 and ran.stdout == "", f"index {bad!r} must run nothing"


# --- validity ---------------------------------------------------------------------------

def test_every_manifest_validates_against_the_stated_kubernetes(lab, advised):
    validate = validator()
    newest = validate.utils.latest_version()
    kinds = set()
    for bundle in every_bundle(lab, advised):
        for doc in documents(bundle):
            if doc["kind"] == "Kustomization":
                continue
            kinds.add(doc["kind"])
            for version in (kubernetes.KUBERNETES_VERSION, newest):
                try:
                    validate.validate(doc, version, strict=True)
                except validate.ValidationError as exc:
                    pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} against {version}: "
                                f"{'.'.join(map(str, exc.path))}: {exc.message}")
    assert kinds == {"Namespace", "NetworkPolicy", "ConfigMap", "Deployment", "Service", "Job"}


def test_the_stated_version_is_one_kubernetes_validate_bundles():
    validate = validator()
    assert kubernetes.KUBERNETES_VERSION in validate.utils.all_versions()


def test_the_written_files_read_back_as_rendered(lab, tmp_path):
    stale = tmp_path / "lab" / "load" / "gone.yaml"
    stale.parent.mkdir(parents=True)
    stale.write_text("kind: Job\n")
    written = kubernetes.write(lab, tmp_path / "lab", "test")
    assert not stale.exists(), "a configuration that is gone leaves no manifest behind"
    for path in written:
        file = str(path.relative_to(tmp_path / "lab"))
        assert list(yaml.safe_load_all(path.read_text())) == lab[file], file
        assert path.read_text().startswith("# Written by"), file


def _kustomize() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):  # kubectl carries kustomize (`kubectl kustomize`)
        return ["kubectl", "kustomize"]
    return None


@pytest.mark.skipif(_kustomize() is None, reason="neither kustomize nor kubectl is installed "
                                                 "(both optional: Debian trixie packages them)")
def test_kustomize_builds_every_manifest_but_the_load(lab, advised, tmp_path):
    for i, bundle in enumerate(every_bundle(lab, advised)):
        where = tmp_path / str(i)
        kubernetes.write(bundle, where, "test")
        built = subprocess.run([*_kustomize(), str(where)], capture_output=True, text=True,
                               timeout=120, check=True).stdout
        found = sorted((d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(built) if d)
        expected = sorted((d["kind"], d["metadata"]["name"]) for f, docs in bundle.items()
                          if f != "kustomization.yaml" and not f.startswith("load/") for d in docs)
        assert found == expected


# --- limits and hardening -----------------------------------------------------------------

def test_every_pod_is_guaranteed(lab, advised):
    for bundle in every_bundle(lab, advised):
        for where, pod in pods(bundle):
            for box in containers(pod):
                res = box["resources"]
                assert set(res["limits"]) == {"cpu", "memory"}, f"{where}/{box['name']}"
                assert res["requests"] == res["limits"], f"{where}/{box['name']}: requests != limits"


def test_each_deployment_has_its_compose_limits(fake_compose, model, lab):
    deployments = of_kind(lab, "Deployment")
    assert set(deployments) == set(model["services"]) - {"nginx"}
    for name in fake_compose.configurations():
        declared = compose.declared_limits(name)
        box = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert cpus_of(box["resources"]["limits"]["cpu"]) == declared.cpus, name
        assert bytes_of(box["resources"]["limits"]["memory"]) == declared.memory_bytes, name
        notes = deployments[name]["metadata"]["annotations"]
        assert notes["lab.pids-limit"] == str(declared.pids) and notes["lab.cpuset"] == declared.cpuset
        assert box["args"] == model["services"][name]["command"], name


def test_a_run_s_own_limits_reach_the_manifests(fake_compose):
    bundle = kubernetes.lab(compose.config({"APP_CPUS": "0.5", "APP_MEMORY": "512M", "APP_PIDS": "128"}))
    box = of_kind(bundle, "Deployment")["gunicorn-sync"]["spec"]["template"]["spec"]["containers"][0]
    assert box["resources"]["limits"] == box["resources"]["requests"] == {"cpu": "500m", "memory": "512Mi"}


def test_the_hardening_is_carried_over(lab, advised):
    for bundle in every_bundle(lab, advised):
        for where, pod in pods(bundle):
            assert pod["automountServiceAccountToken"] is False, where
            for box in containers(pod):
                sc = box["securityContext"]
                at = f"{where}/{box['name']}"
                assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 10001, at
                assert sc["readOnlyRootFilesystem"] is True, at
                assert sc["capabilities"]["drop"] == ["ALL"], at
                assert sc["allowPrivilegeEscalation"] is False, at
                assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, at
        namespace = of_kind(bundle, "Namespace")
        (labels,) = [ns["metadata"]["labels"] for ns in namespace.values()]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_tmpfs_mounts_are_memory_backed(lab):
    postgres = of_kind(lab, "Deployment")["postgres"]["spec"]["template"]["spec"]
    assert postgres["volumes"] == [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "160Mi"}}]
    assert postgres["containers"][0]["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]


@pytest.mark.parametrize("change, refused", [
    ({"security_opt": ["seccomp=unconfined"]}, "security_opt"),
    ({"user": "0:0"}, "non-root"),
    ({"user": None}, "non-root"),
    ({"privileged": True}, "privileged"),
    ({"deploy": {"resources": {"limits": {"cpus": 1, "memory": "256M"},
                               "reservations": {"cpus": 0.5}}}}, "reservations"),
])
def test_what_cannot_be_carried_over_is_refused(model, change, refused):
    svc = {**model["services"]["gunicorn-sync"], **change}
    with pytest.raises(ValueError, match=refused):
        kubernetes.deployment("gunicorn-sync", svc, "wsgi-lab", "configuration")


def test_every_key_of_the_model_is_carried_or_left_out_for_a_reason(model):
    for name, svc in model["services"].items():
        unknown = set(svc) - kubernetes.CARRIED - set(kubernetes.LEFT_OUT)
        assert not unknown, f"{name}: {unknown}"


# --- probes, ports, the front end ------------------------------------------------------------

def test_the_healthcheck_becomes_the_instrument_s_probes(model, lab):
    deployments = of_kind(lab, "Deployment")
    for name, svc in model["services"].items():
        if svc["labels"].get("lab.role") != "configuration":
            continue
        box = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        get = {"path": kubernetes.HEALTH_PATH, "port": 8000}
        assert box["readinessProbe"] == {"httpGet": get, "periodSeconds": 15, "timeoutSeconds": 5,
                                         "failureThreshold": 3}, name
        assert box["startupProbe"] == {"httpGet": get, "periodSeconds": 1, "timeoutSeconds": 5,
                                       "failureThreshold": 60}, name
        assert "livenessProbe" not in box, "compose restarts nothing that turns unhealthy"
        assert box["ports"] == [{"name": "http", "containerPort": 8000},
                                {"name": "agent", "containerPort": agent.PORT}]
        assert of_kind(lab, "Service")[name]["spec"]["ports"][0]["port"] == 8000
    postgres = deployments["postgres"]["spec"]["template"]["spec"]["containers"][0]
    assert postgres["readinessProbe"]["exec"]["command"][0] == "pg_isready"


@pytest.mark.parametrize("role", ["configuration", "upstream"])
def test_the_role_s_port_is_the_one_its_healthcheck_asks(model, role):
    for svc in model["services"].values():
        if svc["labels"]["lab.role"] == role:
            port = re.search(r"/dev/tcp/127\.0\.0\.1/(\d+)", " ".join(svc["healthcheck"]["test"]))[1]
            assert int(port) == kubernetes.ROLE_PORTS[role][1]


def test_compose_durations_and_sizes_read_as_kubernetes_quantities():
    assert kubernetes.duration_s("1m0s") == kubernetes.duration_s("60s") == 60
    assert kubernetes.duration_s("500ms") == 0.5 and kubernetes.duration_s("1h2m3s") == 3723
    with pytest.raises(ValueError):
        kubernetes.duration_s("15 seconds")
    assert [kubernetes.cpu_quantity(c) for c in (1, 1.0, 0.5, 2.25)] == ["1", "1", "500m", "2250m"]
    assert kubernetes.memory_quantity("268435456") == kubernetes.memory_quantity("256M") == "256Mi"
    assert kubernetes.memory_quantity("1G") == "1Gi" and kubernetes.memory_quantity(1000) == "1000"


def test_the_front_end_stays_the_lab_s_own_on_the_pod_s_loopback():
    original = kubernetes.FRONT_END_CONF.read_text()
    rendered = kubernetes.front_end_conf("wsgi-lab")
    assert "127.0.0.11" not in rendered and f"resolver {kubernetes.CLUSTER_DNS} " in rendered
    assert re.search(r"^\s*listen 127\.0\.0\.1:8080;", rendered, re.M)
    assert not re.search(r"^\s*listen 8080;", rendered, re.M), "no other pod may use it as a proxy"
    assert "http://$lab_raw_service.wsgi-lab.svc.cluster.local:8000" in rendered
    assert "default $lab_agent_name.wsgi-lab.svc.cluster.local;" in rendered, "agents by full name"
    assert "include /etc/nginx/lab-configurations.map;" in rendered, "the allow-list stays"
    changed = [line for line in rendered.splitlines()[1:] if line not in original.splitlines()]
    assert len(changed) == 5, changed
    with pytest.raises(ValueError, match="resolver"):
        kubernetes.front_end_conf("wsgi-lab", original.replace("resolver 127.0.0.11", "resolver 10.0.0.10"))


def test_the_load_keeps_k6_s_loopback_rule(lab):
    allowed = re.search(r"const ALLOWED_BASE = /(.+)/;", (ROOT / "k6" / "lib" / "lab.js").read_text())[1]
    front_end = of_kind(lab, "ConfigMap")["front-end"]["data"]["lab-configurations.map"]
    for file, docs in lab.items():
        if not file.startswith("load/"):
            continue
        (job,) = docs
        pod = job["spec"]["template"]["spec"]
        env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
        assert re.fullmatch(allowed, env["BASE_URL"]), env["BASE_URL"]
        assert f"{env['SERVICE']} 1;" in front_end.splitlines()
        (sidecar,) = pod["initContainers"]
        assert sidecar["restartPolicy"] == "Always" and sidecar["image"] == "wsgi-lab/nginx:dev"
        assert sidecar["startupProbe"]["exec"]["command"][0] == "bash", "asked on loopback, in the pod"


def test_the_scripts_configmap_mounts_the_k6_tree(lab):
    data = of_kind(lab, "ConfigMap")["k6-scripts"]["data"]
    job = lab["load/gunicorn-sync.yaml"][0]["spec"]["template"]["spec"]
    (volume,) = [v for v in job["volumes"] if v["name"] == "k6-scripts"]
    paths = {item["path"]: data[item["key"]] for item in volume["configMap"]["items"]}
    tree = {str(p.relative_to(ROOT / "k6")): p.read_text() for p in (ROOT / "k6").rglob("*.js")}
    assert paths == tree


# --- an advise recommendation -------------------------------------------------------------------

def test_the_recommendation_renders_as_its_deployment(advised):
    record = BenchRecord.load(RECORDS / "advise-shop")
    advice = record.advice
    best = advice["recommendation"]["best"]
    (result,) = [r for r in advice["results"] if r["candidate"]["name"] == best]
    app = advice["app"]
    bundle = advised["advise-shop"]
    deployment = of_kind(bundle, "Deployment")[app["name"]]
    box = deployment["spec"]["template"]["spec"]["containers"][0]
    assert box["args"] == result["candidate"]["command"]
    assert box["image"] == f"wsgi-lab/app-{app['name']}:{result['candidate']['servers']}"
    assert cpus_of(box["resources"]["limits"]["cpu"]) == app["cpus"]
    assert bytes_of(box["resources"]["limits"]["memory"]) == memory_bytes(app["memory"])
    assert deployment["metadata"]["annotations"]["lab.candidate"] == best
    env = of_kind(bundle, "ConfigMap")[f"{app['name']}-env"]["data"]
    assert env["LAB_APP"] == app["entry"] and all(env[k] == v for k, v in app["environment"].items())
    assert deployment["metadata"]["namespace"] == f"{kubernetes.NAMESPACE}-{app['name']}"


def test_the_recommendation_s_load_is_its_mix_at_the_rate_it_held(advised):
    record = BenchRecord.load(RECORDS / "advise-shop")
    (result,) = [r for r in record.advice["results"]
                 if r["candidate"]["name"] == record.advice["recommendation"]["best"]]
    bundle = advised["advise-shop"]
    job = bundle["load/shop.yaml"][0]
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["LOAD_MODEL"] == "open" and env["SERVICE"] == "shop"
    assert int(env["RATE_PER_UNIT"]) == round(round(result["capacity_rps"], 3) * RATE_TIME_UNIT_S)
    scripts = of_kind(bundle, "ConfigMap")["k6-scripts"]["data"]
    assert json.loads(scripts["mix.json"]) == record.advice["app"]["requests"]
    assert env["MIX_FILE"] == f"{kubernetes.SCRIPTS_DIR}/mix.json"


def test_a_record_that_recommends_nothing_is_refused(tmp_path):
    data = json.loads((RECORDS / "advise-shop" / "bench.json").read_text())
    data["advice"]["recommendation"] = {"verdict": "none", "best": None, "reason": "none held"}
    (tmp_path / "bench.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="no recommendation to deploy"):
        kubernetes.advise(BenchRecord.load(tmp_path))
    assert cli.main(["k8s", "--no-lab", "--advise", str(tmp_path), "--out", str(tmp_path / "k8s")]) == 2


# --- the command ----------------------------------------------------------------------------------

def test_the_command_renders_the_lab_and_a_recommendation(fake_compose, tmp_path, capsys):
    status = cli.main(["k8s", "--out", str(tmp_path), "--advise", str(RECORDS / "advise-shop"),
                       "--load-instances", "3", "--registry", "registry.example/team/"])
    assert status == 0, capsys.readouterr().err
    job = yaml.safe_load((tmp_path / "lab" / "load" / "gunicorn-sync.yaml").read_text().split("\n", 2)[2])
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 3
    deployment = next(d for d in yaml.safe_load_all((tmp_path / "advise-shop" / "shop.yaml").read_text())
                      if d["kind"] == "Deployment")
    box = deployment["spec"]["template"]["spec"]["containers"][0]
    assert box["image"] == "registry.example/team/wsgi-lab/app-shop:servers"
    sidecar = job["spec"]["template"]["spec"]["initContainers"][0]
    assert sidecar["image"] == "registry.example/team/wsgi-lab/nginx:dev"
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == kubernetes.K6_IMAGE
    out = capsys.readouterr().out
    assert "kubectl apply -k" in out and kubernetes.KUBERNETES_VERSION in out


def test_a_recommendation_renders_without_docker(monkeypatch, tmp_path):
    def no_docker(env=None):
        raise FileNotFoundError("docker")

    monkeypatch.setattr(compose, "config", no_docker)
    argv = ["k8s", "--no-lab", "--advise", str(RECORDS / "advise-notes"), "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    assert (tmp_path / "advise-notes" / "notes.yaml").exists() and not (tmp_path / "lab").exists()
    assert cli.main(["k8s", "--out", str(tmp_path)]) == 2, "the lab's part needs the compose model"
