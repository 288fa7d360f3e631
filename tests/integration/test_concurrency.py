"""Each configuration reaches the concurrency its server's settings promise, and no more.

The figures come from the k6 summaries of the short bench (conftest.bench_record); the
expectation from wsgilab.theory applied to the settings the running server reports.
"""

from __future__ import annotations

import pytest

from wsgilab.results import read_summary
from wsgilab.theory import capacity, expect

#: k6's own guidance: keep the load generator under 80% CPU, or its timings (and so the
#: throughput the Little's-law check uses) are the generator's, not the server's
#: (k6 docs, "Running large tests": "CPU utilization stays within 80%").
K6_CPU_MAX_FRACTION = 0.80


@pytest.fixture
def measured(bench_record, level):
    """(entry, k6 result, capacity, expectation) of one configuration at one VU level."""
    service, vus = level
    entries = [e for e in bench_record["levels"] if (e["service"], e["vus"]) == level]
    assert len(entries) == 1, f"the bench has no single entry for {service} at {vus} VUs"
    entry = entries[0]
    if entry["result"] is None:
        pytest.fail(f"{service} at {vus} VUs did not run: {'; '.join(entry['problems'])}")
    result = read_summary(bench_record["_dir"] / entry["summary"])
    cap = capacity(bench_record["configurations"][service]["settings"])
    return entry, result, cap, expect(cap, vus)


def test_server_side_peak_matches_the_settings(level, measured):
    service, vus = level
    _, result, cap, exp = measured
    if exp.server_bound:
        assert result.server_peak == exp.inflight, (
            f"{service} at {vus} VUs: cap {cap.formula}; expected exactly {exp.inflight} "
            f"in flight at the peak, measured {result.server_peak}")
    else:
        assert exp.min_peak <= result.server_peak <= vus, (
            f"{service} at {vus} VUs: room for every VU ({cap.formula}); expected a peak of "
            f"{exp.min_peak}..{vus} in flight, measured {result.server_peak}")


def test_littles_law_agrees(level, measured):
    service, vus = level
    _, result, cap, exp = measured
    assert exp.min_little <= result.little_inflight <= exp.max_little, (
        f"{service} at {vus} VUs: throughput {result.throughput_rps:.2f} req/s x "
        f"{result.app_time_ms:.1f} ms in the app = {result.little_inflight:.2f} in flight on "
        f"average; expected {exp.min_little:.2f}..{exp.max_little:.2f} ({cap.formula}, "
        f"sustained at least {exp.sustained})")


def test_every_request_is_answered(level, measured):
    service, vus = level
    _, result, _, _ = measured
    assert result.failures == 0, (
        f"{service} at {vus} VUs: expected every request to answer 200, "
        f"{result.failures} of {result.requests} did not")


def test_load_generator_was_not_the_bottleneck(level, measured):
    service, vus = level
    entry, _, _, _ = measured
    used = entry["load"]["k6_cpu_fraction"]
    assert used <= K6_CPU_MAX_FRACTION, (
        f"{service} at {vus} VUs: k6 used {used:.0%} of a core, expected at most "
        f"{K6_CPU_MAX_FRACTION:.0%}; the figures would measure k6, not the server")
