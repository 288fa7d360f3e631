"""Two runs compared: changes flagged against the noise the runs measured, for every
figure and for the claims' verdicts (records/default: one run; records/gthread-repeats:
five repeats of claim 6's levels)."""

import copy

from support import DEFAULT_RUN, REPEATS_RUN, SMALL_RUN
from wsgilab.model.levels import Level
from wsgilab.model.record import BenchRecord
from wsgilab.model.roles import player
from wsgilab.report import compare
from wsgilab.verdicts import claims


def with_repeat(record, factor):
    """``record`` with each level run twice, the second scaled by ``factor``."""
    out = copy.deepcopy(record)
    for entry in list(out.levels):
        again = copy.deepcopy(entry)
        again.level = Level(**{**entry.level.__dict__, "repeat": 2})
        again.figures = {k: v * factor if isinstance(v, float) else v for k, v in again.figures.items()}
        out.levels.append(again)
    return out


def test_single_repeats_have_no_band_and_flag_nothing():
    run = BenchRecord.load(SMALL_RUN)
    changes = compare.compare(run, run)
    assert changes and all(c.band is None and c.flagged is None for c in changes)


def test_a_change_beyond_the_measured_noise_is_flagged():
    a = with_repeat(BenchRecord.load(SMALL_RUN), 1.02)   # repeats within 2%
    b = copy.deepcopy(a)
    for entry in b.levels:
        entry.figures["throughput_rps"] *= 1.5             # a 50% change
    changes = [c for c in compare.compare(a, b) if c.figure == "throughput_rps"]
    assert changes and all(c.flagged for c in changes)
    same = [c for c in compare.compare(a, a) if c.figure == "throughput_rps"]
    assert not any(c.flagged for c in same)
    assert "CHANGED" in compare.page(a, b, changes)


# --- the verdicts of two runs -----------------------------------------------------------

def gthread_sustained(record, shift):
    """``record`` with gthread 2 x 4's Little's L at 40 VUs moved by ``shift`` in every repeat."""
    out = copy.deepcopy(record)
    gthread = player(out.roles, "gthread-workers")
    for entry in out.find(configuration=gthread, workload="io"):
        if entry.level.vus == 40:
            entry.figures["little_inflight"] += shift
    return out


def gthread_set(record, value):
    """``record`` with gthread 2 x 4's Little's L at 40 VUs set to ``value`` in every repeat."""
    out = copy.deepcopy(record)
    gthread = player(out.roles, "gthread-workers")
    for entry in out.find(configuration=gthread, workload="io"):
        if entry.level.vus == 40:
            entry.figures["little_inflight"] = value
    return out


def claim(changes, claim_id):
    return next((c for c in changes if c.claim == claim_id), None)


def test_the_same_run_changes_no_verdict():
    run = BenchRecord.load(DEFAULT_RUN)
    assert compare.verdict_changes(run, run) == []


def test_a_change_between_decided_sides_outside_the_repeats_spread_is_real():
    """records/gthread-repeats' Little's L (6.42-7.96 over five repeats) moved wholly above
    EVERY_VU x 8 in one run and wholly below it in the other."""
    repeats = BenchRecord.load(REPEATS_RUN)
    above, below = gthread_sustained(repeats, +0.8), gthread_sustained(repeats, -0.8)
    found = claim(compare.verdict_changes(below, above), 6)
    assert found and (found.a.status, found.b.status) == (claims.HOLDS_ONLY_WHEN, claims.HOLDS)
    assert found.kind == compare.REAL, found
    assert "over 5 repeats" in found.why
    assert "a real change" in compare.page(below, above, [], [found])


def first_only(run: BenchRecord) -> BenchRecord:
    """``run`` as if each level had been measured once: its first repeat of each (records/
    default repeats the levels a close claim reads)."""
    run.levels = [e for e in run.levels if e.level.repeat <= 1]
    return run


def test_a_change_to_or_from_undecided_is_noise():
    """records/default's first measurement of claim 6's level read alone (one run); records/
    gthread-repeats' five repeats straddle the line."""
    single, repeats = first_only(BenchRecord.load(DEFAULT_RUN)), BenchRecord.load(REPEATS_RUN)
    found = claim(compare.verdict_changes(single, repeats), 6)
    assert found and found.b.status == claims.UNDECIDED and found.kind == compare.NOISE, found
    assert found.why == "undecided in B"
    # Claim 8's busiest share sits above the balanced line in one repeat and in five.
    assert claim(compare.verdict_changes(single, repeats), 8) is None


def test_a_change_between_single_runs_has_no_spread_to_judge_it():
    run = first_only(BenchRecord.load(DEFAULT_RUN))
    below = gthread_set(run, 6.0)  # below EVERY_VU x 8 = 7.2, then above it
    found = claim(compare.verdict_changes(below, gthread_set(run, 8.0)), 6)
    assert found and found.b.status == claims.HOLDS and found.kind == compare.NO_SPREAD, found


def test_a_claim_measured_in_one_run_only_is_said_so():
    found = claim(compare.verdict_changes(BenchRecord.load(DEFAULT_RUN),
                                          BenchRecord.load(REPEATS_RUN)), 2)
    assert found and found.kind == compare.ONE_RUN
