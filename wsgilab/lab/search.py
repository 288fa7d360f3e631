"""The capacity search, run: open levels of a run at rates the search chooses
(``model.capacity.search``), each turned into a step by one rule (``step_of``).

Every study that searches (``make capacity``, ``make advise``) calls ``find_capacity``; the
rates, the objective and what counts as a pass are decided here, once.

A step passes only when its level passed: it was measured, met every check its workload
sets, nothing failed and nothing was dropped, the requests served were within
``SERVED_TOLERANCE`` of those offered, its latency percentile met the objective, and the
load side was not full. A level whose load cores were full is *refused*: the host, not
the configuration, was measured, and the search steps down (``model.capacity``). The
published capacity is what was served at the highest passing step (``Search.capacity_rps``),
never the rate asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from wsgilab import workloads
from wsgilab.lab.run import Run
from wsgilab.lab.session import NotServing
from wsgilab.model.capacity import LOAD_SIDE_FULL, MAX_STEPS, Search, Step, search
from wsgilab.model.facts import Configuration
from wsgilab.model.levels import Variant
from wsgilab.model.load import OPEN_VUS_HEADROOM, Open, open_vus
from wsgilab.model.objective import Objective
from wsgilab.model.record import ERROR, FAIL, INSTRUMENT_BOUND, LevelRecord

#: The most VUs one open level may pre-allocate (the lab's bound on one level: nginx is
#: sized for 2,000 VUs, services/nginx/nginx.conf).
MAX_VUS = 2000
#: How far below what was offered the requests served in a step's window may fall and the
#: step still count as serving the rate: completions are counted whole in the window (one
#: at 16 req/s in 4 s is 1.6%), and at a steady rate the requests in flight at its two
#: edges differ by one or two. Past it the server is falling behind, whatever the tail.
SERVED_TOLERANCE = 0.05


def step_of(entry: LevelRecord, rate: float, bound_ms: float, figure: str) -> Step:
    """A search step from its level record: passed, refused (the load cores were full: the
    host, not the configuration, is what the level measured), or why not.

    Args:
        entry: the level as measured; rate: the arrival rate asked for (req/s).
        bound_ms: the objective's bound; figure: the percentile it reads
            (``latency_p99_ms``).
    """
    if entry.result is None or entry.status == ERROR:
        return Step(rate, False, "; ".join(entry.problems)[:160] or "not measured",
                    slug=entry.level.slug)
    f = entry.figures
    why = []
    refused = entry.status == INSTRUMENT_BOUND
    if refused:
        why.append(host_full(entry.usage or {}))
    if entry.status == FAIL:
        why.append("the level failed: " + "; ".join(entry.problems)[:200])
    if f.get(figure) is None or f[figure] > bound_ms:
        why.append(f"{figure.split('_')[1]} {f.get(figure, 0):.0f} ms over {bound_ms:g} ms")
    if f.get("failures"):
        why.append(f"{f['failures']} failed")
    if f.get("dropped_iterations"):
        why.append(f"{f['dropped_iterations']} dropped")
    offered, served = f.get("offered_rps") or rate, f.get("throughput_rps") or 0.0
    if served < offered * (1 - SERVED_TOLERANCE):
        why.append(f"served {served:.1f} of {offered:.1f} req/s offered (SERVED_TOLERANCE "
                   f"{SERVED_TOLERANCE:.0%})")
    return Step(rate, not why, "; ".join(why), offered_rps=f.get("offered_rps"),
                latency_ms=f.get(figure), throughput_rps=f.get("throughput_rps"),
                slug=entry.level.slug, refused=refused)


def host_full(usage: dict) -> str:
    """Why a level was refused, in numbers: ``LOAD_SIDE_FULL``, the load cores' busy
    share, and the CPUs each measured process used there (k6, nginx, the app's backends)."""
    busy = usage.get("load_cores_busy")
    users = [f"k6 {usage['k6_cpu_fraction']:.2f}"] if usage.get("k6_cpu_fraction") else []
    users += [f"{name[:-len('_cpu_fraction')]} {value:.2f}" for name, value in usage.items()
              if name.endswith("_cpu_fraction") and name not in ("k6_cpu_fraction", "app_cpu_fraction")
              and isinstance(value, float)]
    return (f"{LOAD_SIDE_FULL} (its cores {busy:.0%} busy" if busy is not None
            else f"{LOAD_SIDE_FULL} (") + (f": {', '.join(users)} CPU" if users else "") + ")"


def find_capacity(run: Run, service: str, cfg: Configuration | NotServing, workload: str,
                  params: dict,
                  objective: Objective, *, maximum: tuple[float | None, str, str],
                  ceiling_rps: float | None, variant: Variant = Variant(), repeat: int = 1,
                  arrivals: str = "constant", start_rps: float | None = None,
                  max_steps: int = MAX_STEPS, growth: float | None = None,
                  floor: tuple[float | None, str] = (None, ""), containers: tuple[str, ...] = (),
                  say: Callable[[str], None] | None = None) -> Search:
    """Search ``cfg``'s capacity under ``objective`` on ``workload``, one open level of
    ``run`` per step.

    Args:
        service: the configuration; cfg: as read back (``Run.serving``), or why it
            could not be (then no level runs, and the search has no step).
        params: the workload's parameters; its service time sets the objective's default
            bound and each level's VUs.
        maximum: (the theoretical maximum in req/s or None, what limits it, its formula):
            ``model.capacity.maximum``.
        ceiling_rps: the most the load side drives (its calibration).
        repeat: which repeat of the search this is (recorded in each level).
        start_rps: the first rate where there is no maximum.
        max_steps, growth: the search's budget and step (``model.capacity.search``).
        floor: what the configuration's settings guarantee (req/s or None, why).
        containers: services whose CPU each level records (an app's backends).
        say: a line per step (default: the run's ``out``).

    Returns:
        the search, its steps in the order run (also the levels of ``run.record``).
    """
    say = say or run.out
    spec = workloads.get(workload)
    service_ms = spec.service_ms(params)
    bound_ms = objective.bound_for(service_ms)
    top, what, rule = maximum
    found = Search(service, workload,
                   Objective(objective.percentile, bound_ms), service_ms, top, what, rule,
                   ceiling_rps, repeat=repeat, floor_rps=floor[0], floor_rule=floor[1])

    def measure(rate: float) -> Step:
        vus = min(MAX_VUS, open_vus(rate, bound_ms / 1000.0, OPEN_VUS_HEADROOM, arrivals))
        level = replace(spec.level(service, Open(rate, vus, arrivals), params, variant),
                        repeat=repeat)
        entry = run.measure(level, cfg, containers)
        step = step_of(entry, rate, bound_ms, objective.figure)
        found.steps.append(step)
        say(f"      {level.load.describe()}: "
            + ("meets the objective" if step.passed else f"does not: {step.why}"))
        return step

    if isinstance(cfg, Configuration):
        search(measure, top, ceiling_rps, start_rps=start_rps, max_steps=max_steps,
               **({"growth": growth} if growth else {}))
    return found
