"""The bench record round-trips, and the table and pictures are made from it."""

import json
import shutil

import pytest
from support import SMALL_RUN

from wsgilab import report
from wsgilab.record import BenchRecord


@pytest.fixture
def record(tmp_path):
    shutil.copytree(SMALL_RUN, tmp_path / "run")
    return BenchRecord.load(tmp_path / "run")


def test_the_record_round_trips_through_json(record):
    again = BenchRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again.to_dict() == record.to_dict()
    assert [lv.level for lv in again.levels] == [lv.level for lv in record.levels]


def test_every_level_carries_its_facts_checks_and_figures(record):
    for entry in record.levels:
        assert entry.configuration.capacity.formula, entry.level
        assert entry.checks and entry.figures["throughput_rps"] > 0, entry.level
        assert (record.directory / entry.summary).exists(), entry.summary


def test_the_table_has_a_row_per_level(record):
    table = report.text_table(record)
    for entry in record.levels:
        assert entry.level.configuration in table
    assert len(report.rows(record)) == len(record.levels)


def test_the_report_and_its_pictures_are_written(record):
    report.write(record)
    md = (record.directory / "report.md").read_text()
    for name in ("concurrency.png", "cpu.png"):
        path = record.directory / name
        assert path.stat().st_size > 10_000, f"{name} is too small to hold a chart"
        assert f"]({name})" in md
