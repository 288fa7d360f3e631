"""The bench record round-trips, and the report (tables, charts, HTML page) is made from it."""

import json
import re
import shutil
from html.parser import HTMLParser

import pytest

from support import SMALL_RUN
from wsgilab import report
from wsgilab.model.record import BenchRecord
from wsgilab.verdicts import claims

#: Units a chart's caption must name (what its axes measure).
UNITS = re.compile(r"req/s|\bms\b|CPUs|MiB|a count|count\)")


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


class _Page(HTMLParser):
    """The parts of report.html the tests look at."""

    def __init__(self):
        super().__init__()
        self.claim_rows, self.images, self.captions, self._in_caption = [], [], [], False
        self.requests = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "claim" in (attrs.get("class") or "").split():
            self.claim_rows.append(attrs["id"])
        if tag == "img":
            self.images.append(attrs)
        if tag == "figcaption":
            self._in_caption = True
            self.captions.append("")
        for name in ("src", "href"):
            if attrs.get(name) and not attrs[name].startswith(("data:", "#")):
                self.requests.append(attrs[name])

    def handle_endtag(self, tag):
        if tag == "figcaption":
            self._in_caption = False

    def handle_data(self, data):
        if self._in_caption:
            self.captions[-1] += data


def test_the_report_is_written_with_its_pictures_and_a_self_contained_page(record):
    names = report.write(record)
    assert names, "no chart at all"
    for name in names:
        assert (record.directory / name).stat().st_size > 10_000, f"{name} is too small to hold a chart"
    md = (record.directory / "report.md").read_text()
    assert all(f"]({name})" in md for name in names)
    page = _Page()
    page.feed((record.directory / "report.html").read_text())
    assert len(page.claim_rows) == len(claims.load()), "the claims table needs a row per claim"
    assert len(page.images) == len(names)
    assert all(img["src"].startswith("data:image/png;base64,") and img.get("alt") for img in page.images)
    assert page.requests == [], f"the page loads {page.requests}: it must open from disk alone"
    for caption in page.captions:
        assert UNITS.search(caption), f"a chart's caption names no unit: {caption!r}"
