"""The swarm engine (``engine.SwarmEngine``) as far as it can be checked without a swarm:
what it reads back from a service, what it refuses, and what a bench plan leaves out on it;
the session's side of an engine that cannot pin cores and deploys on demand. A swarm itself
is driven by ``make test-swarm`` and ``bench --engine swarm`` (docs/clusters.md)."""

from __future__ import annotations

import json

import pytest

from fakes import FakeEngine, FakeProbe
from wsgilab.lab import swarm
from wsgilab.lab.engine import EngineError, SwarmEngine
from wsgilab.lab.session import LabSession
from wsgilab.studies import options

SERVICE_INSPECT = [{"Spec": {"TaskTemplate": {
    "ContainerSpec": {"Image": "wsgi-lab/app-demo:dev@sha256:0123",
                      "Args": ["gunicorn", "--workers", "4", "labinstrument.wsgi:app"]},
    "Resources": {"Limits": {"NanoCPUs": 1_000_000_000, "MemoryBytes": 268435456, "Pids": 256},
                  "Reservations": {"NanoCPUs": 1_000_000_000, "MemoryBytes": 268435456}}}}}]


class _Cli:
    """The docker CLI's answers, by its first two words."""

    def __init__(self, tasks: str):
        self.tasks, self.asked = tasks, []

    def __call__(self, *args, timeout_s=120, check=True):
        self.asked.append(args)
        if args[:2] == ("service", "inspect"):
            return json.dumps(SERVICE_INSPECT)
        if args[:2] == ("service", "ps"):
            return self.tasks
        return ""


@pytest.mark.parametrize("tasks, running", [("Running 3 seconds ago\n", True),
                                            ("Starting 1 second ago\n", False), ("", False)])
def test_a_service_reads_back_from_its_spec_once_its_task_runs(monkeypatch, tasks, running):
    engine = SwarmEngine(client=object())
    monkeypatch.setattr(engine, "_docker", _Cli(tasks))
    live = engine.running("gunicorn-sync")
    if not running:
        assert live is None, f"expected no state while the task is {tasks!r}, got {live}"
        return
    assert live.command == ("gunicorn", "--workers", "4", "labinstrument.wsgi:app")
    assert (live.cpus, live.memory_bytes, live.pids) == (1.0, 268435456, 256)
    assert live.cpuset == "" and live.image == "wsgi-lab/app-demo:dev"


def test_a_cpuset_is_refused_with_its_reason():
    with pytest.raises(EngineError, match="cannot be pinned to a cpuset"):
        SwarmEngine(client=object()).set_cpuset("gunicorn-sync", "1")
    assert SwarmEngine.pins_cores is False and SwarmEngine.deploys_on_demand is True


def test_a_swarm_plan_leaves_out_what_it_cannot_run_and_says_why():
    opts = options.parse(["--engine", "swarm"])
    compose_opts = options.parse([])
    assert opts.skipped and len(opts.plan) + len(opts.skipped) == len(compose_opts.plan), (
        f"{len(opts.plan)} kept + {len(opts.skipped)} skipped against {len(compose_opts.plan)}")
    assert all("cannot be pinned to a cpuset" in why for _, why in opts.skipped), opts.skipped
    for level in opts.plan:
        assert not level.variant.cpuset, f"{level.describe()} needs a cpuset, kept on a swarm"
    assert {lv.workload for lv in opts.plan} == {lv.workload for lv in compose_opts.plan}
    assert compose_opts.skipped == () and opts.to_dict()["engine"] == "swarm"
    with pytest.raises(options.OptionError, match="nothing to run on swarm"):
        options.parse(["--engine", "swarm", "--workloads", "cpu", "--limits", "cpuset=0-1"])


class _SwarmLike(FakeEngine):
    """A fake engine that, like a swarm, pins no cores and runs a configuration only once
    it is launched."""

    pins_cores = False
    deploys_on_demand = True

    def __init__(self):
        super().__init__()
        for name in [*self.configurations(), "postgres", "upstream"]:
            self.live.pop(name, None)

    def services(self):
        return ["nginx"]  # as SwarmEngine: the rest is deployed for its levels

    def set_cpuset(self, service, cpuset):
        raise EngineError(swarm.LEFT_OUT["cpuset"])


def test_a_level_gets_exactly_its_backends_on_demand():
    engine = _SwarmLike()
    with LabSession(engine, FakeProbe(engine), out=lambda line: None) as lab:
        lab.require(("upstream",))
        assert engine.running("upstream") and engine.running("postgres") is None
        lab.require(("postgres",))  # the upstream's reservation freed first
        assert engine.running("postgres") and engine.running("upstream") is None
        removed = [c for c in engine.calls if c[0] == "remove"]
        assert removed == [("remove", "upstream")], engine.calls
    assert engine.running("postgres") is None, "launched for its levels, removed after"


def test_a_session_launches_on_demand_and_moves_no_cores():
    engine = _SwarmLike()
    with LabSession(engine, FakeProbe(engine), out=lambda line: None, edge_cpuset="0") as lab:
        lab.isolate("gunicorn-sync", others=True)
        cfg = lab.serving("gunicorn-sync")
        assert cfg.capacity.limit == 4 and lab.launched == {"gunicorn-sync"}
        assert lab.moved == {}, f"a swarm pins no cores, moved {lab.moved}"
    assert engine.running("gunicorn-sync") is None, "launched for its levels, removed after"
