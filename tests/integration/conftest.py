"""Integration fixtures: start the lab (waiting on health) and run one short bench.

Set LAB_RESULTS=<results dir> to check an existing bench's results instead of running one.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from wsgilab import bench, compose, options

#: The short bench the tests run: the same levels as `make bench`, shorter. Two VUs fit
#: every cap but the one-at-a-time server's; ten exceed every bounded cap (1, 3, 4, 8);
#: forty show the unbounded ones far beyond them.
TEST_VUS = (2, 10, 40)
TEST_DURATION_S = 6
TEST_WARMUP_S = 2


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)


def _configurations() -> list[str]:
    try:
        return compose.configurations()
    except Exception:  # no docker compose here: the integration tests cannot run
        return []


def pytest_generate_tests(metafunc):
    if "level" in metafunc.fixturenames:
        levels = [(s, v) for s in _configurations() for v in TEST_VUS]
        metafunc.parametrize("level", levels, ids=[f"{s}-{v}vus" for s, v in levels])
    elif "service" in metafunc.fixturenames:
        services = _configurations()
        metafunc.parametrize("service", services, ids=services)


@pytest.fixture(scope="session")
def lab() -> list[str]:
    """The lab, built if needed and running with every service healthy."""
    compose.up()
    return compose.configurations()


@pytest.fixture(scope="session")
def bench_record(lab) -> dict:
    """The record (bench.json) of a short bench over every configuration."""
    existing = os.environ.get("LAB_RESULTS")
    if existing:
        record = json.loads((Path(existing) / "bench.json").read_text())
        record["_dir"] = Path(existing)
        return record
    results = compose.ROOT / "results" / f"test-{time.strftime('%Y%m%d-%H%M%S')}"
    opts = options.parse([
        "--vus", ",".join(map(str, TEST_VUS)),
        "--duration", str(TEST_DURATION_S), "--warmup", str(TEST_WARMUP_S),
        "--results", str(results), "--no-raw",
    ])
    record = bench.run(opts)
    record["_dir"] = results
    return record
