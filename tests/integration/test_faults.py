"""When things go wrong: every fault scenario, in its light form, meets its declared
expectations (`make faults-light`); the run's record and report carry each outcome.

The scenarios run once per session, after the bench (whose record the other tests read):
each puts back every configuration it changed.
"""

from __future__ import annotations

import pytest

from wsgilab import report
from wsgilab.lab import compose
from wsgilab.model.record import BenchRecord
from wsgilab.studies import faults

#: Log lines shown for a configuration whose scenario failed.
LOG_TAIL = 30


@pytest.fixture(scope="module")
def faults_record(lab, tmp_path_factory) -> BenchRecord:
    """One light run of every scenario, recorded in a temporary results directory."""
    directory = tmp_path_factory.mktemp("faults")
    record = faults.run(list(faults.registry()), directory, light=True)
    report.write(record)  # rendering is its own step, after the run wrote the record
    return record


def _logs(configuration: str) -> str:
    name = configuration.split(" (")[0]
    try:
        return compose.logs(name, LOG_TAIL)
    except Exception as exc:  # the logs are a courtesy; the failure is the point
        return f"(no logs: {exc})"


@pytest.mark.parametrize("name", list(faults.registry()))
def test_scenario_meets_its_expectations(faults_record, name):
    entry = faults_record.scenarios.get(name)
    assert entry is not None, f"{name}: not recorded (scenarios: {sorted(faults_record.scenarios)})"
    assert "error" not in entry, f"{name}: the scenario failed outright: {entry['error']}"
    assert entry["outcomes"], f"{name}: no outcome at all"
    failed = [o for o in entry["outcomes"] if not o["passed"]]
    assert not failed, "\n".join(
        f"{name} / {o['configuration']}: {o['summary']}\n  " + "\n  ".join(o["problems"])
        + f"\n--- logs of {o['configuration']} ---\n{_logs(o['configuration'])}"
        for o in failed)


def test_every_configuration_is_back_and_healthy(faults_record):
    assert faults_record.status == "complete", f"faults run ended {faults_record.status}"
    unhealthy = compose.unhealthy()
    assert unhealthy == [], f"expected every service healthy after the scenarios, measured: {unhealthy}"


def test_the_report_shows_every_scenario(faults_record):
    text = (faults_record.directory / "report.md").read_text()
    assert "When things go wrong" in text
    missing = [name for name in faults_record.scenarios if f"| {name} " not in text]
    assert missing == [], f"scenarios missing from report.md: {missing}"
    html = (faults_record.directory / "report.html").read_text()
    assert all(name in html for name in faults_record.scenarios), "a scenario missing from report.html"
