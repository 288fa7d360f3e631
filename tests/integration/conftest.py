"""Integration fixtures: start the lab (waiting on health), run the bench's default plan
(shortened), and take the lab down at the end of the session unless LAB_KEEP=1.

Set LAB_RESULTS=<results dir> to check an existing bench's results instead of running one.
"""

from __future__ import annotations

import os
import time

import pytest

from support import ROOT
from wsgilab.lab import compose
from wsgilab.lab.compose import ComposeError
from wsgilab.model.record import BenchRecord
from wsgilab.studies import bench, options

#: The bench the tests run: `make bench`'s default plan (every workload, every
#: configuration), each level as long as the default's.
TEST_ARGS = ["--duration", str(options.DEFAULT_DURATION_S),
             "--warmup", str(options.DEFAULT_WARMUP_S), "--no-raw"]
#: Log lines shown per service that failed to start.
LOG_TAIL = 40


def pytest_collection_modifyitems(items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.integration)


def _plan():
    """(levels, error): the plan the bench fixture will run, built at collection time."""
    try:
        return list(bench.grouped(options.parse(TEST_ARGS + ["--check"]).plan)), None
    except Exception as exc:  # reported by a failing test, never as zero tests
        return [], f"{type(exc).__name__}: {exc}"


def _configurations():
    try:
        return compose.configurations(), None
    except Exception as exc:
        return [], f"{type(exc).__name__}: {exc}"


def pytest_generate_tests(metafunc):
    if "level" in metafunc.fixturenames:
        levels, error = _plan()
        params = ([pytest.param(lv, id=lv.test_id) for lv in levels] if levels
                  else [pytest.param(error or "the plan is empty", id="no-plan")])
        metafunc.parametrize("level", params)
    elif "service" in metafunc.fixturenames:
        services, error = _configurations()
        params = ([pytest.param(s, id=s) for s in services] if services
                  else [pytest.param(error or "no configuration", id="no-configuration")])
        metafunc.parametrize("service", params)


def start_failure_report(exc: Exception) -> str:
    """What a failed start-up leaves to read: compose's error, its status, the logs of
    every service that is not running healthy."""
    parts = [f"the lab did not start: {exc}", "", "docker compose ps --all:", compose.status()]
    for name in compose.unhealthy():
        parts += [f"--- logs of {name} (last {LOG_TAIL} lines) ---", compose.logs(name, LOG_TAIL)]
    return "\n".join(parts)


@pytest.fixture(scope="session")
def lab() -> list[str]:
    """The lab, built if needed and running with every service healthy; taken down at the
    end of the session unless LAB_KEEP=1."""
    try:
        compose.up()
    except ComposeError as exc:
        pytest.fail(start_failure_report(exc), pytrace=False)
    yield compose.configurations()
    if os.environ.get("LAB_KEEP") != "1":
        compose.down()


@pytest.fixture(scope="session")
def bench_record(lab) -> BenchRecord:
    """The record of the bench's default plan, run now (or read from LAB_RESULTS)."""
    existing = os.environ.get("LAB_RESULTS")
    if existing:
        return BenchRecord.load(existing)
    results = ROOT / "results" / f"test-{time.strftime('%Y%m%d-%H%M%S')}"
    return bench.run(options.parse(TEST_ARGS + ["--results", str(results)]))
