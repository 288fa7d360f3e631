"""Workload ``mix``: a user's own request mix (``make advise``, ``wsgilab.studies.advise``), each
request chosen by weight (``k6/mix.js``), per-path latency and errors recorded beside the
whole's.

The lab knows nothing of what a user's request does, so its expectation is only what holds
for any app: the requests in flight never exceed the server's cap, and every request
answers 2xx. The mix's service time (``mix_service_ms``) is measured by the advise run
(each request alone, weighted) and sizes open loads' VUs and the default objective.
"""

from __future__ import annotations

from wsgilab.model.facts import Facts
from wsgilab.model.levels import Level
from wsgilab.model.results import LevelResult
from wsgilab.model.theory import Check
from wsgilab.workloads.base import Param, PlanRequest, Workload, common_figures

MIX_FILE = Param("mix_file", "MIX_FILE", "", help="the mix's JSON file (make advise writes it)",
                 path=True)
SERVICE_MS = Param("mix_service_ms", "MIX_SERVICE_MS", 0, low=0, high=600_000,
                   unit="milliseconds", help="the mix's mean service time, measured alone")


def expect(facts: Facts, level: Level) -> list[Check]:
    checks = [Check("failures", "failures", 0, 0, "every request answers 2xx")]
    if facts.capacity.limit is not None:
        checks.insert(0, Check("peak", "server_peak", None, facts.capacity.limit,
                               f"never above the cap ({facts.capacity.formula})"))
    return checks


def figures(result: LevelResult, usage: dict | None, level: Level, facts: Facts) -> dict:
    """The common figures over the whole mix, ``cpu_ms_per_request`` (the app container's
    CPU over the window per request served) and ``by_path``: per request of the mix (its
    index in the mix, as text), its throughput, p50/p99 latency (ms) and failures (non-2xx
    answers over the whole level)."""
    values = common_figures(result, ("mix",), "mix")
    used = (usage or {}).get("app_cpu_fraction")
    if used is not None and values["throughput_rps"]:
        values["cpu_ms_per_request"] = used / values["throughput_rps"] * 1000.0
    by_path = {}
    for name, cls in result.classes.items():
        if name.startswith("r") and name[1:].isdigit():
            by_path[name[1:]] = {"throughput_rps": cls.throughput_rps,
                                 "latency_p50_ms": cls.latency_p50_ms,
                                 "latency_p99_ms": cls.latency_p99_ms,
                                 "failures": result.counts.get(f"failed_{name}", 0)}
    for key, count in result.counts.items():
        if key.startswith("failed_r") and count:
            by_path.setdefault(key[len("failed_r"):], {})["failures"] = count
    values["by_path"] = by_path
    return values


def plan(request: PlanRequest) -> list[Level]:
    """None: a mix runs under ``make advise``, which sizes its own levels."""
    return []


WORKLOAD = Workload(
    name="mix",
    script="mix.js",
    description="a user's own request mix, by weight (run by make advise)",
    params=(MIX_FILE, SERVICE_MS),
    classes=("mix",),
    expect=expect,
    figures=figures,
    plan=plan,
    isolated=True,
    service_param="mix_service_ms",
    order=90,
)
