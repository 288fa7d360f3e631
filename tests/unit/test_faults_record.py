"""A stored run of the fault scenarios (records/faults) reads back through the
record, the report and the claims; a changed outcome changes what they say."""

from __future__ import annotations

import copy
import shutil

import pytest

from support import FAULTS_RUN
from wsgilab import report
from wsgilab.model.record import BenchRecord
from wsgilab.report.tables import claims_table, scenario_rows, shown_verdicts
from wsgilab.studies import faults
from wsgilab.studies.faults.base import oom_kills
from wsgilab.verdicts import claims
from wsgilab.verdicts.claims import DOES_NOT_HOLD, HOLDS


@pytest.fixture
def record(tmp_path) -> BenchRecord:
    shutil.copy(FAULTS_RUN / "bench.json", tmp_path / "bench.json")
    return BenchRecord.load(tmp_path)


def verdict(record, claim_id):
    return next(v for c, v in claims.verdicts(record) if c.id == claim_id)


def test_the_stored_run_has_every_scenario_with_its_outcomes(record):
    assert list(record.scenarios) == list(faults.registry()), \
        "re-record records/faults (see records/README.md) after adding a scenario"
    for name, entry in record.scenarios.items():
        assert "error" not in entry, f"{name}: {entry.get('error')}"
        for outcome in entry["outcomes"]:
            assert outcome["checks"], f"{name} / {outcome['configuration']}: no expectation"
            assert outcome["passed"] == (not outcome["problems"])


def test_every_outcome_is_a_row_of_the_report(record):
    table = scenario_rows(record)
    outcomes = [(n, o["configuration"]) for n, e in record.scenarios.items() for o in e["outcomes"]]
    assert [(row[0], row[1]) for row in table] == outcomes
    report.write(record)
    text = (record.directory / "report.md").read_text()
    assert "## When things go wrong" in text and "## Every level" not in text
    html = (record.directory / "report.html").read_text()
    assert all(f'href="#scenario-{name}"' in html for name in record.scenarios), \
        "every scenario needs its row, linked to its description"


def test_a_faults_only_report_shows_the_claims_it_measured_and_counts_the_rest(record):
    shown, hidden = shown_verdicts(record)
    measured = [c.id for c, v in claims.verdicts(record) if v.status != claims.NOT_MEASURED]
    assert [c.id for c, _ in shown] == measured and measured, f"expected claims {measured} shown"
    expected = len(claims.load()) - len(measured)
    assert hidden == expected, f"expected {expected} left out, measured {hidden}"
    assert f"{hidden} more claims need the bench's levels" in claims_table(record)


def test_a_failed_outcome_reads_as_not_expected(record):
    changed = copy.deepcopy(record)
    first = next(iter(changed.scenarios.values()))["outcomes"][0]
    first["passed"], first["problems"] = False, ["held: expected at least 1000, measured 10"]
    row = scenario_rows(changed)[0]
    assert row[3].startswith("NOT as expected") and "measured 10" in row[3], row


def test_the_ceiling_decides_the_dozens_or_hundreds_claim(record):
    before = verdict(record, 9)
    assert before.status == HOLDS, before.text()
    changed = copy.deepcopy(record)
    for outcome in changed.scenarios["ceiling"]["outcomes"]:
        if outcome["configuration"].startswith("gunicorn-gevent"):
            outcome["figures"]["held"] = 12
    after = verdict(changed, 9)
    assert after.status == DOES_NOT_HOLD, f"expected {DOES_NOT_HOLD}, got {after.text()}"


def test_the_oom_and_thread_exhaustion_outcomes_reach_their_claims(record):
    sync_oom = claims.scenario_outcome(record, "memory", "gunicorn-sync")
    threads = claims.scenario_outcome(record, "threads", "flask-threaded")
    assert sync_oom and threads, "the stored run lacks the memory or threads outcome"
    assert threads["summary"] in verdict(record, 18).detail


class _Health:
    """A Context stand-in whose instrument answers (or not) over HTTP."""

    def __init__(self, events):
        self.events = events

    def health(self, service):
        if self.events is None:
            raise ConnectionError("no answer")
        return {"container": {"memory_events": self.events}}


def test_oom_kills_are_read_from_the_instrument_over_http_not_inside_the_container():
    assert oom_kills(_Health({"oom_kill": 2, "max": 5}), "gunicorn-sync") == 2
    assert oom_kills(_Health({}), "gunicorn-sync") is None, "a kernel that counts none"
    assert oom_kills(_Health(None), "gunicorn-sync") is None, "an instrument that does not answer"
