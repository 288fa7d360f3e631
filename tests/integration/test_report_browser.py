"""report.html, opened in headless Chromium (Debian's, driven by playwright): every chart
is there, drawn, not blank and captioned with its units; the claims table has a row per
claim. Rendered from the stored small run and from this session's bench."""

from __future__ import annotations

import re
import shutil

import pytest

from support import SMALL_RUN
from wsgilab import report
from wsgilab.model.record import BenchRecord
from wsgilab.verdicts import claims

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Chromium's flags for a root, sandbox-less, offline machine.
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic"]
#: The least spread of pixel values an image needs not to be blank (0..255 scale).
MIN_PIXEL_STDDEV = 5.0
UNITS = re.compile(r"req/s|\bms\b|CPUs|MiB|a count|count\)")
#: What each image is measured for, in the page: drawn size and the spread of its pixels.
MEASURE = """() => [...document.querySelectorAll('figure.chart')].map(f => {
  const img = f.querySelector('img');
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let n = 0, sum = 0, sq = 0;
  for (let i = 0; i < d.length; i += 4 * 97) {
    const v = (d[i] + d[i + 1] + d[i + 2]) / 3; n++; sum += v; sq += v * v;
  }
  const mean = sum / n;
  return {id: f.id, complete: img.complete, width: img.naturalWidth,
          stddev: Math.sqrt(sq / n - mean * mean), caption: f.querySelector('figcaption').innerText};
})"""


def _render(directory):
    record = BenchRecord.load(directory)
    names = report.write(record)
    return record.directory / "report.html", names


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(params=["stored", "this-run"])
def page_of(request, tmp_path, bench_record):
    if request.param == "stored":
        shutil.copytree(SMALL_RUN, tmp_path / "run")
        return _render(tmp_path / "run")
    return _render(bench_record.directory)


def test_the_report_opens_with_every_chart_drawn_and_the_claims(browser, page_of):
    path, names = page_of
    page = browser.new_page()
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == [], (
        "the report must load nothing from a network")
    charts = page.evaluate(MEASURE)
    assert sorted(c["id"] for c in charts) == sorted(names), "every chart file is in the page"
    for chart in charts:
        assert chart["complete"] and chart["width"] > 300, f"{chart['id']} is not drawn"
        assert chart["stddev"] > MIN_PIXEL_STDDEV, (
            f"{chart['id']} looks blank: pixel spread {chart['stddev']:.1f}, expected more "
            f"than {MIN_PIXEL_STDDEV}")
        assert UNITS.search(chart["caption"]), f"{chart['id']}: caption names no unit"
    rows = page.locator("table.claims tbody tr.claim").count()
    assert rows == len(claims.load()), f"claims table: expected {len(claims.load())} rows, got {rows}"
    page.close()
