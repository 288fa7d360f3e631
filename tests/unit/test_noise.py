"""A comparison is decided from a figure's repeats: the side they all sit on, or undecided
where they straddle the threshold; one run is one repeat and decides as a number does."""

from __future__ import annotations

import pytest

from wsgilab.verdicts import noise
from wsgilab.verdicts.noise import Figure, compare, threshold

#: records/gthread-repeats: gthread 2 x 4's Little's L at 40 VUs over its five repeats,
#: against claim 6's threshold, EVERY_VU x 8.
REPEATS = (6.42, 7.83, 7.96, 7.93, 7.05)
LINE = threshold(7.2, "EVERY_VU x 8")


def side(*values: float, op: str = ">=", against: Figure = LINE) -> bool | None:
    return compare(Figure("L", values), op, against).side


def test_repeats_that_straddle_the_threshold_are_undecided():
    assert side(*REPEATS) is None
    assert "straddles >= 7.20 (EVERY_VU x 8)" in compare(Figure("L", REPEATS), ">=", LINE).describe()


@pytest.mark.parametrize("values, expected", [((7.3, 7.9, 7.96), True), ((6.4, 6.6, 6.8), False)])
def test_repeats_all_on_one_side_give_that_side(values, expected):
    assert side(*values) is expected


def test_a_single_run_decides_as_a_number_does():
    assert side(6.37) is False and side(7.2) is True and side(8.0) is True
    assert not compare(Figure("L", (6.37,)), ">=", LINE).repeated


@pytest.mark.parametrize("run", [(6.79,), (7.83, 7.96, 7.93)], ids=["below", "above"])
def test_the_same_run_twice_decides_as_once(run):
    assert side(*run) == side(*run, *run) is not None


@pytest.mark.parametrize("run, other", [
    ((6.37,), 6.60),            # two runs of `make bench`, both below: still decided
    ((7.83, 7.96, 7.93), 7.9),  # another run within the repeats' spread, above
    (REPEATS, 7.5),             # another run within a spread that straddles: still undecided
    (REPEATS, 6.9),
])
def test_another_run_within_the_spread_gives_the_same_verdict(run, other):
    assert min(run) <= other <= max(run) or len(run) == 1
    assert side(*run, other) == side(*run)


def test_another_run_across_the_threshold_leaves_it_undecided():
    assert side(6.37) is False and side(6.37, 7.5) is None


def test_two_repeated_figures_are_ordered_only_when_their_spreads_do_not_overlap():
    gevent = Figure("gevent", (150.0, 156.0, 160.0))
    assert compare(gevent, ">", Figure("sync", (15.0, 16.0))).side is True
    assert compare(gevent, ">", Figure("sync", (140.0, 155.0))).side is None
    scaled = Figure("sync", (140.0,)).times(1.1, "sync x 1.1")
    assert scaled.values == pytest.approx((154.0,)) and compare(gevent, ">", scaled).side is None


def test_counts_compare_for_equality_over_every_repeat():
    cap = threshold(8, "its cap", "{:.0f}")
    assert compare(Figure("peak", (8, 8, 8)), "==", cap).side is True
    assert compare(Figure("peak", (8, 7)), "==", cap).side is None
    assert compare(Figure("peak", (7, 6)), "==", cap).side is False


def test_every_and_some_decide_on_one_counter_example_and_wait_on_a_straddle():
    yes, no, unsure = (compare(Figure("x", v), ">=", LINE) for v in ((8.0,), (6.0,), REPEATS))
    assert noise.every([yes, yes]) is True and noise.every([yes, no, unsure]) is False
    assert noise.every([yes, unsure]) is None and noise.every([]) is True
    assert noise.some([no, yes, unsure]) is True and noise.some([no, no]) is False
    assert noise.some([no, unsure]) is None and noise.some([]) is False
    assert noise.straddling([yes, unsure, no]) == [unsure]


def test_a_figure_says_its_median_and_spread():
    assert Figure("L", REPEATS).describe() == "7.83 (6.42-7.96) over 5 repeats"
    assert Figure("L", (6.37,)).describe() == "6.37"
    assert Figure("share", (0.5, 0.5)).describe() == "0.50"
    assert Figure("share", (0.68, 0.60, 0.56, 0.59, 0.64), "{:.0%}").describe() == \
        "60% (56%-68%) over 5 repeats"


def test_a_figure_nothing_measured_and_an_unknown_comparison_are_refused():
    with pytest.raises(ValueError, match="no repeat measured it"):
        Figure("L", ())
    with pytest.raises(KeyError):
        compare(Figure("L", (1.0,)), "=>", LINE)
