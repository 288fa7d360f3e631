"""The free-threaded build, lightly (`make bench-python PYTHON_ARGS=--light`): the 3.13t
interpreter built and cached, the demo app staged for its ABI, one CPU-bound level of one
gthread worker of 8 threads under a 2-CPU quota, with the GIL off in every worker; and the
configuration put back on the base image's Python afterwards."""

from __future__ import annotations

import time

import pytest

from support import ROOT, container, health
from wsgilab.lab import compose, pythons
from wsgilab.model.theory import CPU_BOUND_TOLERANCE
from wsgilab.studies import bench
from wsgilab.studies import python as python_bench


@pytest.fixture(scope="module")
def light_record(lab):
    """The light comparison's record, its interpreter built first (cached across runs)."""
    pythons.prepare([python_bench.LIGHT_PYTHON])
    results = ROOT / "results" / f"test-python-{time.strftime('%Y%m%d-%H%M%S')}"
    opts, names = python_bench.parse(["--light", "--results", str(results)])
    assert names == (python_bench.LIGHT_PYTHON,)
    return bench.run(opts, out=lambda line: None)


def test_what_the_free_threaded_build_left_out_is_recorded_in_pips_words(light_record):
    facts = light_record.pythons[python_bench.LIGHT_PYTHON]
    assert facts["interpreter"]["free_threaded"], facts["interpreter"]
    left_out = {**facts["servers"]["left_out"], **facts["app"]["left_out"]}
    assert any(pin.startswith("gevent==") for pin in left_out), (
        f"gevent has no free-threaded wheel, yet it was not left out: {sorted(left_out)}")
    assert all("No matching distribution" in reason or "from versions" in reason
               for reason in left_out.values()), left_out


def test_threads_use_the_quota_with_the_gil_off_in_every_worker(light_record):
    (entry,) = light_record.levels
    assert entry.passed, entry.problems
    assert entry.figures["gil_enabled_processes"] == 0, entry.configuration.processes
    runtime = entry.configuration.runtime["python"]
    assert runtime["free_threaded_build"] and runtime["version"].startswith("3.13."), runtime
    capacity = entry.configuration.capacity
    assert capacity.parallelism == capacity.limit == 8, (
        f"8 threads with the GIL off in every worker should count as 8 at once: {capacity}")
    # The threads reached the CPUs the quota and the cores left them, not one CPU: the
    # bound check (X within CPU_BOUND_TOLERANCE of min(VUs, 8, quota, cores less others')
    # / CPU time) passed above; the CPUs used say the same without the response-time law.
    usable = min(2.0, 2.0 - entry.figures["others_cpus"])
    assert entry.usage["app_cpu_fraction"] >= usable * (1 - CPU_BOUND_TOLERANCE), (
        f"expected at least {usable * (1 - CPU_BOUND_TOLERANCE):.2f} CPUs "
        f"(usable {usable:.2f} less CPU_BOUND_TOLERANCE), measured "
        f"{entry.usage['app_cpu_fraction']:.2f}")


def test_the_configuration_is_back_on_the_base_python(light_record):
    (entry,) = light_record.levels
    service = entry.level.configuration
    answer = health(service)
    assert not answer["runtime"]["python"]["free_threaded_build"], answer["runtime"]
    image = container(service).attrs["Config"]["Image"]
    assert image == compose.config()["services"][service]["image"], image
