"""Verdicts on the seeds' claims are computed from a run's records, and follow them."""

import copy

import pytest
from support import DEFAULT_RUN

from wsgilab import claims
from wsgilab.claims import DOES_NOT_HOLD, HOLDS, HOLDS_ONLY_WHEN, NOT_MEASURED
from wsgilab.levels import Variant
from wsgilab.record import BenchRecord

STATUSES = {HOLDS, HOLDS_ONLY_WHEN, DOES_NOT_HOLD, NOT_MEASURED}


@pytest.fixture
def record():
    """A real run of `make bench`'s default plan (tests/data/run-default)."""
    return BenchRecord.load(DEFAULT_RUN)


def entries(record, configuration, workload, **variant):
    return [e for e in record.levels if e.level.configuration == configuration
            and e.level.workload == workload and e.level.variant == Variant(**variant)]


def verdict(record, claim_id):
    return next(v for c, v in claims.verdicts(record) if c.id == claim_id)


def test_every_claim_names_its_seeds_and_an_existing_rule():
    found = claims.load()
    assert [c.id for c in found] == list(range(1, 19))
    for claim in found:
        assert set(claim.seeds) <= {"000", "001", "002"} and claim.seeds, claim
        assert claim.rule in claims.RULES and claim.measurement


def test_a_full_run_answers_every_claim(record):
    results = claims.verdicts(record)
    assert all(v.status in STATUSES for _, v in results)
    unanswered = [c.id for c, v in results if v.status == NOT_MEASURED]
    assert unanswered == [], f"claims {unanswered} not measured by the default plan"


def set_figure(record, configuration, workload, figure, value, **variant):
    changed = copy.deepcopy(record)
    found = entries(changed, configuration, workload, **variant)
    assert found, f"no {configuration} {workload} level in the stored run"
    for entry in found:
        entry.figures[figure] = value
    return changed


def set_load(record, configuration, workload, key, value, **variant):
    changed = copy.deepcopy(record)
    for entry in entries(changed, configuration, workload, **variant):
        entry.load[key] = value
    return changed


@pytest.mark.parametrize("claim_id, change, becomes", [
    # 4 sync workers holding 5 would refute "N workers, N at once".
    (4, lambda r: set_figure(r, "gunicorn-sync", "io", "server_peak", 5), DOES_NOT_HOLD),
    # ... and prove the Q&A's "more than four because they start threads".
    (5, lambda r: set_figure(r, "gunicorn-sync", "io", "server_peak", 9), HOLDS),
    # app.run() holding one at a time would make the seeds right about it.
    (1, lambda r: set_figure(r, "flask-threaded", "io", "server_peak", 1), HOLDS),
    # gthread 2 x 4 sustaining all 8 would make "8 at once" hold without condition.
    (6, lambda r: set_figure(r, "gunicorn-gthread", "io", "little_inflight", 8.0), HOLDS),
    # threads using two CPUs under a 2-CPU quota would refute the GIL claim.
    (10, lambda r: set_load(r, "gunicorn-gthread-1x8", "cpu", "app_cpu_fraction", 1.9,
                            cpus=2.0, cpuset="0-1"), DOES_NOT_HOLD),
])
def test_a_changed_measurement_changes_the_verdict(record, claim_id, change, becomes):
    before = verdict(record, claim_id)
    after = verdict(change(record), claim_id)
    assert before.status != becomes, f"claim {claim_id} already read {before.text()}"
    assert after.status == becomes, f"claim {claim_id}: expected {becomes}, got {after.text()}"


def test_a_run_without_the_levels_says_not_measured(record):
    empty = copy.deepcopy(record)
    empty.levels, empty.environment = [], {}
    assert {v.status for _, v in claims.verdicts(empty)} == {NOT_MEASURED}


def test_repeats_that_disagree_are_said(record):
    changed = copy.deepcopy(record)
    (entry,) = entries(changed, "gunicorn-gthread", "io")
    again = copy.deepcopy(entry)
    again.level = type(entry.level)(**{**entry.level.__dict__, "repeat": 2})
    again.status, again.problems = "FAIL", ["little: made up for the test"]
    changed.levels.append(again)
    assert verdict(changed, 6).disagreements, "repeats that disagree must be reported"
