"""The lab session: every change undone on every way out, and every start reconciled.

A fake engine stands for Docker: a dict of declared states and one of running states;
``recreate`` and ``set_cpuset`` change the running ones as the real engine would.
"""

from __future__ import annotations

import os
import signal
from dataclasses import replace

import pytest

from wsgilab.lab.session import Drift, Engine, Interrupted, LabSession, State
from wsgilab.model.levels import Variant

DECLARED = State(("gunicorn", "--workers", "4"), 1.0, "1", 256 * 2**20, 256 * 2**20, 256)


class FakeEngine(Engine):
    """Three configurations and a front end, each running as declared unless told."""

    def __init__(self, running: dict[str, State] | None = None) -> None:
        self.names = ["a", "b", "c"]
        self.decl = {n: DECLARED for n in self.names}
        self.decl["front"] = replace(DECLARED, command=None, cpuset="0")
        self.live = dict(self.decl) if running is None else running
        self.calls: list[tuple] = []

    def services(self):
        return sorted(self.decl)

    def configurations(self):
        return list(self.names)

    def declared(self, service, env=None):
        state = self.decl[service]
        if env and "WORKERS" in env:
            state = replace(state, command=("gunicorn", "--workers", env["WORKERS"]))
        if env and "APP_CPUS" in env:
            state = replace(state, cpus=float(env["APP_CPUS"]))
        return state

    def running(self, service):
        return self.live.get(service)

    def up(self):
        self.calls.append(("up",))
        for name, state in self.decl.items():  # compose recreates what its hash says changed
            live = self.live.get(name)
            if live is None or live.command not in (state.command, None) and state.command:
                self.live[name] = state
            elif live.cpus != state.cpus or live.memory_bytes != state.memory_bytes:
                self.live[name] = state

    def recreate(self, services, env=None, force=False):
        self.calls.append(("recreate", tuple(services), tuple(sorted((env or {}).items())), force))
        for name in services:
            self.live[name] = self.declared(name, env)

    def set_cpuset(self, service, cpuset):
        self.calls.append(("cpuset", service, cpuset))
        self.live[service] = replace(self.live[service], cpuset=cpuset)

    def stop(self, service):
        self.calls.append(("stop", service))
        self.stopped_state = self.live.pop(service)

    def start(self, service):
        self.calls.append(("start", service))
        self.live[service] = self.stopped_state


def session(engine: FakeEngine, lines: list[str] | None = None) -> LabSession:
    return LabSession(engine, out=(lines.append if lines is not None else lambda _: None),
                      edge_cpuset="0")


WORKERS_8 = Variant(cpus=0.5)


def test_every_change_is_undone_at_a_normal_end():
    engine = FakeEngine()
    with session(engine) as lab:
        lab.apply("a", WORKERS_8)
        lab.isolate("a", others=True)
        lab.stop("c")
        assert engine.live["a"].cpus == 0.5 and engine.live["b"].cpuset == "0"
    assert lab.drift() == {}, f"expected every service as declared, found {lab.drift()}"
    assert engine.live == engine.decl


@pytest.mark.parametrize("stop", [KeyboardInterrupt, lambda: Interrupted(signal.SIGTERM),
                                  lambda: RuntimeError("a level crashed")])
def test_every_change_is_undone_on_the_way_out(stop):
    engine = FakeEngine()
    with pytest.raises((KeyboardInterrupt, Interrupted, RuntimeError)):
        with session(engine) as lab:
            lab.apply("b", WORKERS_8)
            lab.isolate("b", others=True)
            raise stop()
    assert engine.live == engine.decl, "the lab was left changed"


def test_a_real_sigterm_raises_in_the_main_thread_and_the_lab_is_put_back():
    engine = FakeEngine()
    with pytest.raises(Interrupted) as caught:
        with session(engine) as lab:
            lab.apply("a", WORKERS_8)
            os.kill(os.getpid(), signal.SIGTERM)
            pytest.fail("SIGTERM did not stop the run")
    assert caught.value.exit_status == 128 + signal.SIGTERM
    assert engine.live == engine.decl
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, "the handler was left installed"


def test_a_signal_while_putting_back_waits_until_the_lab_is_back():
    engine = FakeEngine()
    real_recreate = engine.recreate

    def recreate_with_a_signal(services, env=None, force=False):
        if not env:  # the undo's recreation
            os.kill(os.getpid(), signal.SIGHUP)
        real_recreate(services, env, force)

    engine.recreate = recreate_with_a_signal
    with pytest.raises(Interrupted) as caught:
        with session(engine) as lab:
            lab.apply("a", WORKERS_8)
    assert caught.value.signum == signal.SIGHUP
    assert engine.live == engine.decl, "the signal cut the undo short"


def test_a_hand_moved_cpuset_is_put_back_at_start_and_said():
    engine = FakeEngine()
    engine.live["b"] = replace(DECLARED, cpuset="0")  # docker update by hand, or a killed run
    lines: list[str] = []
    with session(engine, lines) as lab:
        assert engine.live["b"].cpuset == "1"
    assert ("cpuset", "b", "1") in engine.calls
    assert any("b: cpuset '0' instead of '1'" in line for line in lines), lines
    assert lab.reconciled and "b" in lab.reconciled[0]


def test_a_container_left_under_a_variant_is_recreated_at_start():
    engine = FakeEngine()
    engine.live["a"] = replace(DECLARED, command=("gunicorn", "--workers", "12"),
                               memory_bytes=768 * 2**20, cpuset="0")
    with session(engine) as lab:
        assert engine.live["a"] == DECLARED
    (said,) = lab.reconciled
    assert said.startswith("a: ") and "'12'" in said and "memory_bytes" in said, said


def test_an_image_command_is_not_drift():
    engine = FakeEngine()
    engine.live["front"] = replace(engine.decl["front"], command=("nginx", "-g", "daemon off;"))
    with session(engine) as lab:
        assert lab.reconciled == []


def test_start_refuses_a_lab_it_cannot_put_back():
    engine = FakeEngine()
    engine.set_cpuset = lambda service, cpuset: None  # the update never takes
    engine.live["c"] = replace(DECLARED, cpuset="0")
    with pytest.raises(Drift, match="c: cpuset"):
        with session(engine):
            pass


def test_verify_reads_the_container_back_against_its_variant():
    engine = FakeEngine()
    with session(engine) as lab:
        lab.apply("a", WORKERS_8)
        assert lab.verify("a", WORKERS_8).cpus == 0.5
        engine.live["a"] = replace(engine.live["a"], cpuset="0")
        with pytest.raises(Drift, match="cpuset"):
            lab.verify("a", WORKERS_8)
        with pytest.raises(Drift, match="cpus"):
            lab.verify("b", WORKERS_8)


def test_a_failed_recreation_is_still_put_back():
    engine = FakeEngine()
    real_recreate = engine.recreate

    def failing(services, env=None, force=False):
        real_recreate(services, env, force)
        if env:
            raise RuntimeError("did not become healthy")

    engine.recreate = failing
    with session(engine) as lab:
        with pytest.raises(RuntimeError):
            lab.apply("c", WORKERS_8)
    assert engine.live == engine.decl


def test_isolation_moves_only_running_configurations_and_keeps_the_measured_one():
    engine = FakeEngine()
    with session(engine) as lab:
        lab.stop("c")
        lab.isolate("a", others=True)
        assert engine.live["a"].cpuset == "1" and engine.live["b"].cpuset == "0"
        assert "c" not in lab.moved
        lab.isolate("b", others=False)  # an I/O level: b back on its core, a left alone
        assert engine.live["b"].cpuset == "1"
    assert engine.live == engine.decl
