"""The recommendation: one configuration to deploy, ready to paste, what it held, and the
measured reason it beat the runner-up; the sizing rules' picks measured beside it; and,
where nothing met the objective (or the rate the app must serve), what limits would.

Only capacities measured to their top are ranked. A capacity that is a lower bound (the
load side or the host ended its search, or its steps ran out still passing) is written
"at least" and never ranked: where one is as high as the best measured, the
recommendation says that it might hold more. Two capacities within SAME_CAPACITY of each
other are decided by their repeats (``noise``; searched once each, only beyond
SEARCH_SPREAD): the one whose every repeat held more, or
*undecided* where the repeats straddle, and then, among those searched more than once
where any was, one that runs more than one request at a time (one slow request stalls a
lone sync worker), and of those the one that holds less memory. The
runner (``make advise``) repeats the best two (``contenders``) whatever their first
figures: one search here differs from the next by more than SAME_CAPACITY.
"""

from __future__ import annotations

import math
import statistics

from wsgilab import families
from wsgilab.verdicts import noise

#: Capacities within this fraction of the best are the same within the noise (a
#: search's resolution is 4%, repeats here spread a few per cent more): their repeats
#: decide, else the one that holds least memory.
SAME_CAPACITY = 0.05
#: How far apart two searches of one configuration land here: the median, over the
#: candidates of the advise records of 2026-12-06 and 07 (records/advise-*) searched to
#: their top at least twice, of 1 - lowest / highest of those searches: 0.12 (ten
#: candidates, 0.01 to 0.29; ``repeat_spread`` recomputes it from the records, a unit test
#: compares). The records re-made on 2026-12-06 gave 0.18; their runs walked with it.
#: Two candidates searched once each are told apart only beyond it; the search around the
#: law's walk calls a step this far below the best clearly lower.
SEARCH_SPREAD = 0.12
#: The share of a CPU a deployment should plan to use at its rate: past it, queueing
#: grows fast (the capacity search measures where, under the objective).
PLANNED_UTILISATION = 0.7


def _search(result: dict) -> dict:
    return result.get("search") or {}


def _bound(search: dict | None, capacity_rps: float | None) -> bool:
    """Whether a search's capacity is at least its figure: its ``lower_bound`` (records
    before it: an instrument-bound verdict, or no step that missed the objective)."""
    search = search or {}
    if "lower_bound" in search:
        return bool(search["lower_bound"])
    return bool(capacity_rps) and (
        search.get("verdict") == "instrument-bound"
        or ("first_fail_rps" in search and search["first_fail_rps"] is None))


def lower_bound(result: dict) -> bool:
    """Whether a result's capacity is at least its figure, not its figure (its first
    search's; a repeat that was a lower bound is left out of its figure instead:
    ``bounded_repeats``)."""
    return _bound(_search(result), result.get("capacity_rps"))


def _repeats(result: dict) -> list[tuple[float, bool]]:
    """A result's capacities, the first search's then each repeat's (``repeats``; one that
    held nothing as 0), each with whether it was a repeat whose search was a lower bound.
    Records from before repeats kept their searches have none: nothing bounded to read."""
    values = result.get("repeats") or [result["capacity_rps"]]
    searches = [None, *(result.get("repeat_searches") or [])]
    return [(float(v or 0.0), 0 < i < len(searches) and _bound(searches[i], v))
            for i, v in enumerate(values)]


def bounded_repeats(result: dict) -> list[float]:
    """The repeats of a result whose searches were lower bounds (req/s, each "at least"):
    never mixed into its median and spread, which are figures measured to the top."""
    return [v for v, bounded in _repeats(result) if bounded]


def exact(result: dict) -> bool:
    """A result that may be ranked: a capacity measured to its top, in workers the memory
    holds."""
    return (bool(result.get("capacity_rps")) and result["candidate"].get("fits", True)
            and not lower_bound(result))


def figure(result: dict) -> noise.Figure:
    """A result's capacity as its repeats measured it (req/s): the first search and any
    repeat (``repeats``; a repeat that held nothing counts as 0), but the repeats that
    were lower bounds (``bounded_repeats``)."""
    return noise.Figure(f"{result['candidate']['name']}'s capacity",
                        tuple(v for v, bounded in _repeats(result) if not bounded), "{:.1f}")


def held(result: dict) -> str:
    """A capacity in words, with its unit: ``"at least 180.5 req/s"`` for a lower bound,
    ``"367.2 req/s (268.2-413.0 over 3 repeats)"`` for a repeated one (median, min-max),
    ``"120.3 req/s"``, or "none"."""
    if not result.get("capacity_rps"):
        return "none"
    if lower_bound(result):
        return f"at least {result['capacity_rps']:.1f} req/s"
    found = figure(result)
    spread = (f" ({min(found.values):.1f}-{max(found.values):.1f} over {found.repeats} repeats)"
              if found.repeats > 1 else "")
    bounded = bounded_repeats(result)
    if bounded:
        spread += (f"; {len(bounded)} more repeat{'s' if len(bounded) > 1 else ''} a lower bound "
                   f"(at least {', '.join(f'{v:.1f}' for v in bounded)})")
    return f"{found.median:.1f} req/s{spread}"


def capacity(result: dict) -> float:
    """The capacity a result is ranked by: the median over its repeats (req/s)."""
    return figure(result).median


def contenders(results: list[dict]) -> list[dict]:
    """The best and the runner-up among the rankable results, to be measured again: one
    search of a configuration here differs from the next by more than SAME_CAPACITY (two
    default runs of the gateway: granian 1 x 41 held 210.0, 1 x 36 266.0 req/s), so the
    order of the top two is read from repeats, whatever their first figures. [] where there
    are fewer than two, or they are already repeated."""
    ranked = sorted((r for r in results if exact(r)), key=lambda r: -capacity(r))
    if len(ranked) < 2 or any(len(r.get("repeats") or ()) > 1 for r in ranked[:2]):
        return []
    return ranked[:2]


def _tried(result: dict) -> bool:
    """Whether a result was measured again (``repeats``), whatever its repeats found."""
    return len(result.get("repeats") or ()) > 1


def _decided(best: dict, other: dict) -> bool:
    """Whether ``best`` holds more than ``other``: from their repeats where both were
    repeated (every pair of repeats agrees, ``noise``); never where both were repeated
    but fewer than two of one's searches reached the top (its other repeats lower bounds:
    one figure against a spread decides nothing); else, one search against another, by
    more than SEARCH_SPREAD (two searches of one configuration differ by that much)."""
    a, b = figure(best), figure(other)
    if a.repeats > 1 and b.repeats > 1:
        return noise.Comparison(a, ">", b).side is True
    if _tried(best) and _tried(other):
        return False
    return beyond_noise(capacity(best), capacity(other))


def beyond_noise(higher_rps: float, lower_rps: float) -> bool:
    """Whether ``lower_rps`` lies below ``higher_rps`` (req/s, one search each) by more than
    SEARCH_SPREAD: the one rule that tells two single searches apart (the ranking, the
    search around the law's walk, the sweep check)."""
    return lower_rps < higher_rps * (1 - SEARCH_SPREAD)


def repeat_spread(results: list[dict]) -> float | None:
    """The median over ``results`` (advise results, ``repeats`` in req/s) searched to their
    top at least twice (a repeat that was a lower bound is left out: its figure is not its
    capacity) of 1 - lowest / highest of those searches; None where none was. The source
    of SEARCH_SPREAD."""
    spreads = []
    for r in results:
        reps = [value for value, bound in _repeats(r) if value and not bound]
        if len(reps) > 1:
            spreads.append(1 - min(reps) / max(reps))
    return statistics.median(spreads) if spreads else None


def in_flight(result: dict) -> int | None:
    """The requests in flight a candidate runs at once, from its settings read back (its
    family's model's cap), or None where unbounded or not read."""
    settings = result.get("settings")
    if not settings:
        return None
    try:
        return families.model(settings).limit
    except (KeyError, ValueError):
        return None


def stalls(result: dict) -> bool:
    """Whether one slow request stops a candidate: it runs one request at a time (one sync
    worker, one thread), so every other waits behind it."""
    return in_flight(result) == 1


def _mib(result: dict) -> str:
    return f"{(result.get('memory_peak_bytes') or 0) / 2**20:.0f} MiB"


def _line(result: dict) -> str:
    cap = result.get("capacity_rps")
    memory = result.get("memory_peak_bytes")
    said = "met the objective at no rate tried"
    if cap:
        said = held(result) + " under the objective" + (" (a lower bound)" if lower_bound(result) else "")
    return (f"{result['candidate']['name']} ({result.get('formula', 'not measured')}): " + said
            + (f", {memory / 2**20:.0f} MiB at most" if memory else ""))


def _weighed(best: dict, others: list[dict]) -> str:
    """What the pick among equals weighed, in words: concurrency to spare where some of
    them run one request at a time, else memory."""
    single = [r["candidate"]["name"] for r in others if stalls(r)]
    if single and not stalls(best):
        return (f"; it runs {in_flight(best) or 'many'} requests at once where "
                f"{', '.join(single)} run{'s' if len(single) == 1 else ''} one (one slow "
                f"request would stall {'it' if len(single) == 1 else 'them'}), and of those "
                f"the least memory ({_mib(best)})")
    return f"; it runs in less memory ({_mib(best)})"


def _unpicked(pool: list[dict], picked_from: list[dict]) -> str:
    """The equals left out of the pick for being searched once, in words ('' where none)."""
    once = [r["candidate"]["name"] for r in pool if r not in picked_from]
    if not once:
        return ""
    return (f"; picked among those searched more than once "
            f"({', '.join(r['candidate']['name'] for r in picked_from)}): one search of "
            f"{', '.join(once)} says little about the size it was searched at (a sweep of "
            f"its family would tell)")


def choose(results: list[dict], cpus: float, target_rps: float | None = None) -> dict:
    """The recommendation from each candidate's measured result.

    Args:
        results: per candidate: ``candidate`` (dict), ``formula``, ``capacity_rps``,
            ``repeats`` (capacities of repeated searches, the first included),
            ``search`` (``capacity.Search.to_dict``), ``memory_peak_bytes``,
            ``cpu_ms_per_request``.
        cpus: the CPUs the app is limited to.
        target_rps: the rate the app must serve, if its declaration gives one.

    Returns:
        ``{"verdict": "recommended" | "unranked" | "none" | "host-bound", "best",
        "runner_up", "reason", "rules", "needs", "instrument_bound", "lower_bounds",
        "undecided"}``: names, sentences, the limits that would serve the target, the
        candidates whose capacity is a lower bound (never ranked), and the candidates the
        recommendation could not tell from the best within the noise (empty where the
        repeats decided).
    """
    fitting = [r for r in results if r.get("capacity_rps") and r["candidate"].get("fits", True)]
    measured = [r for r in fitting if exact(r)]
    bounds = sorted((r for r in fitting if lower_bound(r)), key=lambda r: -r["capacity_rps"])
    # Searches the host refused at every rate: not measured here, never a failure.
    refused = [r["candidate"]["name"] for r in results
               if not r.get("capacity_rps") and _search(r).get("steps")
               and all(s.get("refused") for s in _search(r)["steps"])]
    rules = [f"{', '.join(r['candidate']['rules'])}: {_line(r)}"
             + ("" if r["candidate"].get("fits", True) else " (more workers than the memory holds)")
             for r in results if r["candidate"].get("rules")]
    base = {"best": None, "runner_up": None, "rules": rules, "needs": "",
            "instrument_bound": [r["candidate"]["name"] for r in bounds] + refused,
            "lower_bounds": [r["candidate"]["name"] for r in bounds], "undecided": []}
    not_here = (f". Not measured here: {', '.join(refused)} (the host was full at every "
                "rate tried)") if refused else ""
    if not fitting and refused:
        return {**base, "verdict": "host-bound",
                "reason": f"this machine's host was full at every rate tried for "
                          f"{', '.join(refused)} (k6, nginx and the backends share the load "
                          "cores): the app was not measured here; a load side and backends on "
                          "cores or machines of their own would measure it"}
    if not fitting:
        cpu = [r["cpu_ms_per_request"] for r in results if r.get("cpu_ms_per_request")]
        needs = ""
        if target_rps and cpu:
            needs = (f"serving {target_rps:g} req/s at {min(cpu):.1f} ms of CPU a request needs "
                     f"{math.ceil(target_rps * min(cpu) / 1000 / PLANNED_UTILISATION * 10) / 10:g} CPUs")
        return {**base, "verdict": "none", "needs": needs,
                "reason": "no candidate met the objective at any rate tried: the objective is "
                          "below what one request takes here, or every configuration failed"}
    at_least = "; ".join(_line(r) for r in bounds)
    if not measured:
        return {**base, "verdict": "unranked",
                "reason": "every capacity measured here is a lower bound (this machine's load "
                          "side, k6, nginx and the backends on shared cores, was full, or the "
                          "search's steps ran out, before a candidate missed the objective), "
                          f"so none is ranked: {at_least}{not_here}"}
    ranked = sorted(measured, key=lambda r: -capacity(r))
    # The repeats decide: the best must hold more than each other in every pair of repeats
    # (or, unrepeated, by more than SAME_CAPACITY); where they straddle, the one in least
    # memory, and say so.
    best = ranked[0]
    undecided = [r for r in ranked[1:] if not _decided(ranked[0], r)]
    pool = [ranked[0], *undecided]
    # Among equals, only a figure searched more than once is picked where any was: one
    # search here lands anywhere within SEARCH_SPREAD of the next, so a single one says
    # nothing about the size it was searched at (records/advise-gateway of 2026-12-06:
    # gthread 1 x 43 picked for its memory at 288.5 req/s in one search; its family's
    # sweep held 425.8 at 1 x 74).
    picked_from = [r for r in pool if _tried(r)] or pool
    if undecided:
        # Equal within the noise: one that is not stopped by one slow request, then the
        # least memory.
        best = min(picked_from,
                   key=lambda r: (stalls(r), r.get("memory_peak_bytes") or math.inf, -capacity(r)))
    runner = next((r for r in ranked if r is not best), None)
    if runner is None:
        reason = f"the only candidate measured to its top: {_line(best)}"
    elif undecided:
        others = [r for r in pool if r is not best]
        tied = [best, *others]
        repeated = any(_tried(r) for r in tied)
        short = [r["candidate"]["name"] for r in tied if _tried(r) and figure(r).repeats < 2]
        weighed = [r for r in others if r in picked_from]
        reason = (f"as much as {', '.join(r['candidate']['name'] for r in others)} within the "
                  f"noise ({_line(best)}; " + "; ".join(_line(r) for r in others) + "): "
                  + (f"undecided: the repeats of {', '.join(short)} were lower bounds (the "
                     "host was full before the top), so one search decides nothing; a load "
                     "side with cores of its own would" if short else
                     "undecided: their repeats straddle each other, "
                     f"{noise.WHAT_WOULD_DECIDE}" if repeated else
                     f"within SEARCH_SPREAD ({SEARCH_SPREAD:.0%}, how far two searches of one "
                     "configuration land here) in one search each, not repeated")
                  + (_weighed(best, weighed) if weighed else "")
                  + _unpicked(pool, picked_from))
    elif figure(best).repeats > 1 and figure(runner).repeats > 1:
        reason = (f"more than {runner['candidate']['name']} in every repeat, "
                  f"{capacity(best) / capacity(runner):.2f} x on the medians ({_line(best)}; "
                  f"{_line(runner)})")
    else:
        reason = (f"{capacity(best) / capacity(runner):.2f} x the runner-up's "
                  f"capacity under the objective, beyond SEARCH_SPREAD ({SEARCH_SPREAD:.0%}, "
                  f"how far two searches of one configuration land here) though not "
                  f"repeated: {_line(best)}; {_line(runner)}")
    if bounds:
        higher = [r for r in bounds if r["capacity_rps"] >= capacity(best) * (1 - SAME_CAPACITY)]
        reason += f". Not ranked, lower bounds: {at_least}"
        if higher:
            reason += (f"; {', '.join(r['candidate']['name'] for r in higher)} held at least as "
                       "much and might hold more: a load side with cores of its own would tell")
    reason += not_here
    needs = ""
    if target_rps and capacity(best) < target_rps and best.get("cpu_ms_per_request"):
        cpus_needed = target_rps * best["cpu_ms_per_request"] / 1000 / PLANNED_UTILISATION
        needs = (f"{target_rps:g} req/s is more than it held ({capacity(best):.1f}): at "
                 f"{best['cpu_ms_per_request']:.1f} ms of CPU a request, about "
                 f"{math.ceil(cpus_needed * 10) / 10:g} CPUs (now {cpus:g})")
    return {**base, "verdict": "recommended", "best": best["candidate"]["name"],
            "runner_up": runner["candidate"]["name"] if runner else None,
            "reason": reason, "needs": needs,
            "undecided": [r["candidate"]["name"] for r in undecided if r is not best]
            + ([ranked[0]["candidate"]["name"]] if undecided and best is not ranked[0] else [])}
