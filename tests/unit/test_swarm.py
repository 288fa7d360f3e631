"""Swarm stack files from the lab's model: limits and reservations, placement, nothing
published, what swarm cannot say named, and the load split by task slot."""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction

import pytest
import yaml

from support import FakeCompose
from wsgilab.lab import swarm
from wsgilab.model.load import Closed, Open


@pytest.fixture(scope="module")
def model() -> dict:
    return FakeCompose().config(backends=True)


def test_every_configuration_keeps_its_limits_as_limits_and_reservations(model):
    stack = swarm.stack(model)
    configurations = swarm.configurations(model)
    assert configurations, "the model has no configuration"
    for name in configurations:
        declared = model["services"][name]["deploy"]["resources"]["limits"]
        deploy = stack["services"][name]["deploy"]
        assert deploy["resources"]["limits"]["cpus"] == str(declared["cpus"])
        assert deploy["resources"]["limits"]["memory"] == str(declared["memory"])
        assert deploy["resources"]["limits"]["pids"] == int(declared["pids"])
        assert deploy["resources"]["reservations"] == {
            "cpus": str(declared["cpus"]), "memory": str(declared["memory"])}, name
        assert deploy["endpoint_mode"] == "dnsrr" and deploy["replicas"] == 1
        assert deploy["placement"]["constraints"] == ["node.labels.lab.role != load"]


def test_nothing_is_published_and_the_hardening_that_swarm_takes_is_kept(model):
    stack = swarm.stack(model)
    assert not [n for n, s in stack["services"].items() if "ports" in s], "a published port"
    for name, svc in stack["services"].items():
        declared = model["services"][name]
        for key in ("user", "read_only", "cap_drop"):
            assert svc.get(key) == declared.get(key), f"{name}: {key} {svc.get(key)} vs {declared.get(key)}"
    assert "nginx" in model["services"] and "nginx" not in stack["services"], \
        "the front end runs in each load task, on its loopback, not as a service"
    (load,) = swarm.load("gunicorn-sync", "io.js", {}, Closed(8), 2, 10, 2, ["backend"])["services"].values()
    assert load["deploy"]["placement"]["constraints"] == ["node.labels.lab.role != sut"]
    assert load["environment"]["BASE_URL"] == "http://127.0.0.1:8080", "k6/lib/lab.js's loopback rule"
    assert load["image"] == swarm.LOAD_IMAGE


def test_a_read_only_root_keeps_its_writable_tmp_as_a_tmpfs_mount(model):
    """A stack ignores compose's ``tmpfs`` key: every read-only service, the load too, gets
    its tmpfs as a mount (measured: without, the load's nginx could not start)."""
    (load,) = swarm.load("gunicorn-sync", "io.js", {}, Closed(8), 2, 10, 2, ["backend"])["services"].values()
    for name, svc in {**swarm.stack(model)["services"], "load": load}.items():
        assert "tmpfs" not in svc, f"{name}: a tmpfs key, which docker stack deploy ignores"
        if svc.get("read_only"):
            assert {"type": "tmpfs", "target": "/tmp"}.items() <= (svc.get("volumes") or [{}])[0].items(), \
                f"{name}: expected a tmpfs mount at /tmp, got {svc.get('volumes')}"
    postgres = swarm.stack(model)["services"]["postgres"]
    assert postgres["volumes"] == [{"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 160 << 20}}]
    with pytest.raises(ValueError, match="a size must be"):
        swarm.tmpfs_mounts(["/tmp:size=lots"])


def test_what_swarm_cannot_say_is_named_never_dropped(model):
    left = swarm.left_out(model)
    pinned = [n for n, s in model["services"].items() if s.get("cpuset")]
    assert pinned, "the model pins some service to a cpuset"
    stack = swarm.stack(model)
    for name in pinned:
        assert "cpuset" in left[name], left.get(name)
        if name in stack["services"]:
            label = stack["services"][name]["labels"]["lab.swarm.left-out"]
            assert "cpuset" in label, label
    assert set(swarm.stack(model, only=["gunicorn-sync"])["services"]) == {"gunicorn-sync"}
    with pytest.raises(ValueError, match="no such service"):
        swarm.stack(model, only=["nginx"])
    with pytest.raises(ValueError, match="no swarm translation: privileged"):
        swarm.service("x", {**model["services"][pinned[0]], "privileged": True})
    with pytest.raises(swarm.SwarmRefused, match="cannot be pinned to a cpuset"):
        swarm.check_level("gunicorn-sync io at 40 VUs", "1")
    swarm.check_level("gunicorn-sync io at 40 VUs", None)


@pytest.mark.parametrize("instances", [1, 2, 3])
def test_the_load_job_splits_by_task_slot_into_segments_that_cover_it_once(instances):
    found = swarm.load("gunicorn-sync", "io.js", {"IO_MS": "100"}, Closed(40), instances,
                       60, 15, ["backend"])
    (svc,) = found["services"].values()
    env = svc["environment"]
    assert svc["deploy"]["mode"] == "replicated" and svc["deploy"]["replicas"] == instances
    assert svc["deploy"]["restart_policy"] == {"condition": "none"}, "each task runs its k6 once"
    assert env["TASK_SLOT"] == "{{.Task.Slot}}" and env["BASE_URL"] == "http://127.0.0.1:8080"
    segments = env["K6_SEGMENTS"].split()
    assert len(segments) == instances
    total = sum(Fraction(b) - Fraction(a) for a, b in (s.split(":") for s in segments))
    assert total == 1, f"segments cover {total} of the load"
    assert found["networks"]["backend"] == {"external": True, "name": "wsgi-lab-swarm_backend"}


@pytest.mark.parametrize("slot, segment", [("1", "0:1/2"), ("2", "1/2:1"), ("3", None), ("x", None)])
def test_each_task_runs_the_segment_its_slot_picks(tmp_path, slot, segment):
    """The load script under a POSIX shell, k6 replaced by echo."""
    found = swarm.load("gunicorn-sync", "io.js", {}, Open(10, 1), 2, 60, 15, ["backend"])
    (svc,) = found["services"].values()
    env = {**svc["environment"], "TASK_SLOT": slot, "PATH": f"{tmp_path}:/usr/bin:/bin",
           "LAB_NO_FRONT_END": "1"}
    (tmp_path / "k6").write_text('#!/bin/sh\necho "$@"\n')
    (tmp_path / "k6").chmod(0o755)
    run = subprocess.run(svc["entrypoint"], env=env, capture_output=True, text=True)
    if segment is None:
        assert run.returncode == 2 and "slot" in run.stderr.lower(), run
    else:
        assert run.returncode == 0, run.stderr
        assert f"--execution-segment {segment} --execution-segment-sequence 0,1/2,1" in run.stdout


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI to parse the stack")
def test_docker_parses_the_stack_and_the_load(model, tmp_path):
    """``docker stack config`` parses a stack file as ``docker stack deploy`` would, without
    a swarm: the files the lab writes are ones docker accepts."""
    for name, document in (("stack", swarm.stack(model)),
                           ("load", swarm.load("gunicorn-sync", "io.js", {}, Closed(8), 2, 10, 2,
                                               ["backend"]))):
        path = swarm.write(document, tmp_path / f"{name}.yml")
        run = subprocess.run(["docker", "stack", "config", "-c", str(path)],
                             capture_output=True, text=True)
        assert run.returncode == 0, f"{name}: {run.stderr}"
        parsed = yaml.safe_load(run.stdout)
        assert set(parsed["services"]) == set(document["services"]), name
        for service, spec in document["services"].items():
            # What a task runs is what the model says: the stack's interpolation of $NAME
            # once emptied the load's script, and every task exited before any load.
            for key in ("entrypoint", "command", "environment"):
                if key in spec:
                    assert parsed["services"][service][key] == spec[key], \
                        f"{name}/{service}: {key} changed by docker's parsing"
