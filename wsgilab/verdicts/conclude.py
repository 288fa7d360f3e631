"""The diagnoses and the recommendation, from an advise record's measured results: what the
runner stores at the end of a run, and what the report renders again from the record, so
that a page always applies the current rules to what was measured."""

from __future__ import annotations

from wsgilab.model.levels import memory_bytes
from wsgilab.verdicts import diagnose, recommend


def conclude(advice: dict) -> dict:
    """``{"diagnoses": [...], "recommendation": {...}}`` for a record's ``advice`` (its
    ``app``, ``worker_mib``, ``smoke`` and ``results``)."""
    app = advice["app"]
    results = advice.get("results", [])
    labels = [f"{r['method']} {r['path']}" for r in app["requests"]]
    return {"diagnoses": diagnose.diagnose(results, memory_bytes(app["memory"]),
                                           advice.get("worker_mib", 0.0), labels, app["cpus"],
                                           advice.get("demand"), app.get("target_rps")),
            "recommendation": recommend.choose(results, app["cpus"], app.get("target_rps"))}
