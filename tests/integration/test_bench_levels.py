"""Every level of the bench meets the expectation its configuration's settings give.

The figures come from each level's k6 summary; the expectation is recomputed here from
the facts the bench read back from the running container (settings from /healthz,
limits through the Docker SDK), with the workload's own rule.
"""

from __future__ import annotations

import pytest

from wsgilab import families as servers
from wsgilab import workloads
from wsgilab.lab import compose
from wsgilab.model.results import read_summary

#: k6's own guidance: keep the load generator under 80% CPU, or its timings (and so the
#: throughput the checks use) are the generator's, not the server's (k6 docs, "Running
#: large tests": "CPU utilization stays within 80%").
K6_CPU_MAX_FRACTION = 0.80
#: The same for nginx, against its own quota (docker-compose.yml: 0.5 CPU): a saturated
#: front end would cap every configuration alike.
NGINX_CPU_MAX_FRACTION = 0.80 * 0.5


@pytest.fixture
def entry(bench_record, level):
    """The record of ``level``: run, and measured."""
    if isinstance(level, str):
        pytest.fail(f"the bench plan could not be built: {level}")
    found = [e for e in bench_record.levels if e.level == level]
    assert len(found) == 1, f"the bench has {len(found)} entries for {level.describe()}"
    if found[0].result is None:
        pytest.fail(f"{level.describe()} did not run: {'; '.join(found[0].problems)}")
    return found[0]


def test_level_meets_its_expectation(bench_record, level, entry):
    workload = workloads.get(level.workload)
    facts = entry.configuration.facts(entry.backend)
    result = read_summary(bench_record.directory / entry.summary)
    figures = workload.figures(result, entry.usage, level, facts)
    checks = workload.expect(facts, level)
    assert checks, f"{level.describe()}: no expectation at all"
    problems = [p for c in checks if (p := c.problem(figures.get(c.figure)))]
    assert not problems, (f"{level.describe()} ({entry.configuration.capacity.formula}):\n  "
                          + "\n  ".join(problems))


def test_level_ran_with_the_limits_and_settings_it_declares(bench_record, level, entry):
    """What the engine applied and the server reports equal the compose model with the
    level's variant (and the run's limits) applied: read back, not assumed."""
    from wsgilab.model.levels import Variant

    run_limits = Variant.from_dict(bench_record.options.get("limits"))
    env = level.variant.over(run_limits).env(level.configuration)
    declared = compose.declared_limits(level.configuration, env)
    assert entry.configuration.limits == declared, (
        f"{level.describe()}: declared {declared}, applied {entry.configuration.limits}")
    command = compose.config(env)["services"][level.configuration]["command"]
    expected = servers.declared(command)
    reported = entry.configuration.settings
    assert {k: reported.get(k) for k in expected} == expected, (
        f"{level.describe()}: {command} declares {expected}; the server reported {reported}")


def test_the_instrument_was_not_the_bottleneck(level, entry):
    k6_used, nginx_used = entry.usage["k6_cpu_fraction"], entry.usage["nginx_cpu_fraction"]
    assert k6_used <= K6_CPU_MAX_FRACTION, (
        f"{level.describe()}: k6 used {k6_used:.0%} of a core, expected at most "
        f"{K6_CPU_MAX_FRACTION:.0%}; the figures would measure k6, not the server")
    assert nginx_used <= NGINX_CPU_MAX_FRACTION, (
        f"{level.describe()}: nginx used {nginx_used:.2f} CPU, expected at most "
        f"{NGINX_CPU_MAX_FRACTION:.2f} (80% of its quota)")
