"""The recommendation: one configuration to deploy, ready to paste, what it held, and the
measured reason it beat the runner-up; the sizing rules' picks measured beside it; and,
where nothing met the objective (or the rate the app must serve), what limits would.
"""

from __future__ import annotations

import math

#: Capacities within this fraction of the best are the same within the noise (a
#: search's resolution is 4%, repeats here spread a few per cent more): among them the one
#: that holds least memory wins.
SAME_CAPACITY = 0.05
#: The share of a CPU a deployment should plan to use at its rate: past it, queueing
#: grows fast (the capacity search measures where, under the objective).
PLANNED_UTILISATION = 0.7


def _line(result: dict) -> str:
    cap = result.get("capacity_rps")
    memory = result.get("memory_peak_bytes")
    return (f"{result['candidate']['name']} ({result.get('formula', 'not measured')}): "
            + (f"{cap:.1f} req/s under the objective" if cap else "met the objective at no rate tried")
            + (f", {memory / 2**20:.0f} MiB at most" if memory else ""))


def choose(results: list[dict], cpus: float, target_rps: float | None = None) -> dict:
    """The recommendation from each candidate's measured result.

    Args:
        results: per candidate: ``candidate`` (dict), ``formula``, ``capacity_rps``,
            ``memory_peak_bytes``, ``cpu_ms_per_request``, ``settings``, ``app_cpus``.
        cpus: the CPUs the app is limited to.
        target_rps: the rate the app must serve, if its declaration gives one.

    Returns:
        ``{"verdict": "recommended" | "none" | "host-bound", "best", "runner_up", "reason", "rules",
        "needs", "instrument_bound"}``: names, sentences, the limits that would serve the
        target, and the candidates whose search the load side ended (their capacity is
        a lower bound).
    """
    measured = [r for r in results if r.get("capacity_rps") and r["candidate"]["fits"]]
    # Searches the host refused at every rate: not measured here, never a failure.
    refused = [r["candidate"]["name"] for r in results
               if not r.get("capacity_rps") and _refused_only(r.get("search"))]
    rules = [f"{', '.join(r['candidate']['rules'])}: {_line(r)}"
             + ("" if r["candidate"]["fits"] else " (more workers than the memory holds)")
             for r in results if r["candidate"]["rules"]]
    if not measured and refused:
        return {"verdict": "host-bound", "best": None, "runner_up": None, "rules": rules,
                "reason": f"this machine's host was full at every rate tried for "
                          f"{', '.join(refused)} (k6, nginx and the backends share the load "
                          "cores): the app was not measured here; a load side and backends on "
                          "cores or machines of their own would measure it",
                "needs": "", "instrument_bound": refused}
    if not measured:
        cpu = [r["cpu_ms_per_request"] for r in results if r.get("cpu_ms_per_request")]
        needs = ""
        if target_rps and cpu:
            needs = (f"serving {target_rps:g} req/s at {min(cpu):.1f} ms of CPU a request needs "
                     f"{math.ceil(target_rps * min(cpu) / 1000 / PLANNED_UTILISATION * 10) / 10:g} CPUs")
        return {"verdict": "none", "best": None, "runner_up": None, "rules": rules,
                "reason": "no candidate met the objective at any rate tried: the objective is "
                          "below what one request takes here, or every configuration failed",
                "needs": needs}
    top = max(r["capacity_rps"] for r in measured)
    close = [r for r in measured if r["capacity_rps"] >= top * (1 - SAME_CAPACITY)]
    best = min(close, key=lambda r: (r.get("memory_peak_bytes") or math.inf, -r["capacity_rps"]))
    others = sorted((r for r in measured if r is not best), key=lambda r: -r["capacity_rps"])
    runner = others[0] if others else None
    if runner is None:
        reason = f"the only candidate that met the objective: {_line(best)}"
    elif runner["capacity_rps"] >= top * (1 - SAME_CAPACITY):
        reason = (f"as much as {runner['candidate']['name']} within {SAME_CAPACITY:.0%} "
                  f"({best['capacity_rps']:.1f} against {runner['capacity_rps']:.1f} req/s), "
                  f"in less memory ({(best.get('memory_peak_bytes') or 0) / 2**20:.0f} against "
                  f"{(runner.get('memory_peak_bytes') or 0) / 2**20:.0f} MiB)")
    else:
        reason = (f"{best['capacity_rps'] / runner['capacity_rps']:.2f} x the runner-up's "
                  f"capacity under the objective: {_line(best)}; {_line(runner)}")
    bounded = [r["candidate"]["name"] for r in measured
               if (r.get("search") or {}).get("verdict") == "instrument-bound"]
    if refused:
        reason += (f". Not measured here: {', '.join(refused)} (the host was full at every "
                   "rate tried)")
    if best["candidate"]["name"] in bounded:
        reason += (f". {', '.join(bounded)}: this machine's load side (k6, nginx and the "
                   "backends share its cores) was full before the candidate missed the "
                   "objective, so these capacities are at least the figures, and the order "
                   "among them is not this machine's to decide")
    needs = ""
    if target_rps and best["capacity_rps"] < target_rps and best.get("cpu_ms_per_request"):
        cpus_needed = target_rps * best["cpu_ms_per_request"] / 1000 / PLANNED_UTILISATION
        needs = (f"{target_rps:g} req/s is more than it held ({best['capacity_rps']:.1f}): at "
                 f"{best['cpu_ms_per_request']:.1f} ms of CPU a request, about "
                 f"{math.ceil(cpus_needed * 10) / 10:g} CPUs (now {cpus:g})")
    return {"verdict": "recommended", "best": best["candidate"]["name"],
            "runner_up": runner["candidate"]["name"] if runner else None,
            "reason": reason, "rules": rules, "needs": needs, "instrument_bound": bounded + refused}


def _refused_only(search: dict | None) -> bool:
    """Whether a recorded search (``capacity.Search.to_dict``) had every step refused."""
    steps = (search or {}).get("steps") or []
    return bool(steps) and all(s.get("refused") for s in steps)
