"""Every chart a record has data for, closed-model levels' first (``charts``), then the
open-model ones (``open_charts``), in reading order."""

from __future__ import annotations

from wsgilab.model.record import BenchRecord
from wsgilab.report import charts, open_charts
from wsgilab.report.charts import Chart


def all_charts(record: BenchRecord) -> list[Chart]:
    """Every chart of ``record``, in reading order."""
    return charts.closed_charts(record) + open_charts.all_charts(record)
