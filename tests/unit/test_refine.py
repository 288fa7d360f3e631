"""The search around the law's walk: when it measures the next size, and where its
noise threshold comes from."""

import json
from pathlib import Path

from wsgilab.studies.advise import refine
from wsgilab.verdicts import recommend

RECORDS = Path(__file__).resolve().parents[2] / "records"
SAME = 0.05


def _walk(*steps: tuple[float | None, bool], start: float = 300.0) -> refine.Walk:
    walk = refine.Walk(start, SAME)
    for capacity, bound in steps:
        if not walk.step(capacity, bound):
            break
    return walk


def test_one_flat_step_is_not_the_top():
    # records/advise-notes: granian 1 x 1 308.8, 1 x 2 310.5 (flat), the sweep's 1 x 4 380.8.
    walk = refine.Walk(308.8, SAME)
    assert walk.step(310.5, False), "one step within the noise: measure the next"
    assert walk.step(380.8, False), "a rise resets the count of flat steps"
    assert walk.rose and walk.best_rps == 380.8 and walk.flat == 0
    assert not walk.step(370.0, False) and walk.stopped == f"{refine.REFINE_MOST_STEPS} steps"


def test_two_flat_steps_in_a_row_stop_the_walk():
    walk = _walk((305.0, False), (295.0, False), (400.0, False))
    assert walk.steps == refine.REFINE_FLAT_STEPS, f"stopped after {walk.steps}: {walk.stopped}"
    assert not walk.rose and "within the noise" in walk.stopped


def test_a_clearly_lower_step_or_a_lower_bound_stops_it():
    low = 300.0 * (1 - refine.CLEARLY_LOWER) - 1
    walk = _walk((low, False), (500.0, False))
    assert walk.steps == 1 and walk.stopped == "clearly lower"
    walk = _walk((None, False))
    assert walk.steps == 1 and walk.stopped == "clearly lower", "a step that held nothing"
    walk = _walk((420.0, True), (500.0, False))
    assert walk.steps == 1 and walk.rose and "lower bound" in walk.stopped
    assert walk.best_rps == 420.0


def test_clearly_lower_is_the_spread_the_advise_records_measured():
    results = [r for path in sorted(RECORDS.glob("advise-*/bench.json"))
               for r in json.loads(path.read_text())["advice"]["results"]]
    spread = recommend.repeat_spread(results)
    assert spread is not None, "no advise record repeats a candidate"
    # The constant is the records' median rounded to a hundredth (its docstring's figure):
    # re-made records that move it must move the constant, and its docstring.
    assert abs(spread - refine.CLEARLY_LOWER) <= 0.005 + 1e-9, (
        f"CLEARLY_LOWER {refine.CLEARLY_LOWER} vs the records' median spread {spread:.3f}")


def test_a_family_walks_from_its_own_cpu_per_request():
    from wsgilab.model import sizing
    from wsgilab.studies.advise.runner import _own_demand

    # records/advise-httpbin: 0.5 CPU, 16.9 ms in the app; the probe's sync worker 1.48 ms
    # of CPU a request (6 in flight), granian's own 0.6 ms.
    probe = sizing.Demand.of(0.5, 16.9, 1.48, 6)
    assert probe.in_flight == 6, probe
    own = _own_demand(probe, 0.6)
    assert own.in_flight == 15 and own.service_ms == probe.service_ms, own
    assert _own_demand(probe, None) is probe, "no CPU measured: the probe's count"


def test_a_size_measured_already_is_read_but_not_counted():
    walk = refine.Walk(247.5, SAME)
    assert walk.step(276.8, False) and walk.step(280.0, False)
    # The next size was a rule's pick, measured before the walk: clearly lower, and free.
    assert not walk.step(228.8 * 0.8, False, measured=False)
    assert walk.steps == 2 and walk.stopped == "clearly lower"
