"""A comparison decided from a figure's repeats: the side they all sit on, or undecided.

A rule of ``claims.py`` compares a figure (Little's L, a share, a throughput) with a
threshold (a constant, or another figure scaled by a tolerance). A figure measured once
is one repeat, and decides as a single number does. A figure measured N times is decided
only where every repeat sits on the same side of the threshold; where some sit on each
side, the repeats straddle it and the comparison is *undecided within the noise on this
machine*: more repeats, or a quieter machine, would decide it. A threshold read from
another repeated figure is decided pairwise: every repeat of the one against every
repeat of the other, so that two figures are ordered only when their spreads do not
overlap.

This is the one place that decides; the rules only say what they compare
(``tests/unit/test_noise.py``).
"""

from __future__ import annotations

import operator
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

#: The comparisons a rule may make, by their usual sign.
OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
             "==": operator.eq, "!=": operator.ne}
#: What decides a comparison its repeats straddle, in the words a verdict uses.
WHAT_WOULD_DECIDE = "more repeats, or a quieter machine, would decide it"


@dataclass(frozen=True)
class Figure:
    """A figure as its repeats measured it.

    Attributes:
        words: what it is, for a sentence (``"gunicorn-gthread's Little's L"``).
        values: one value per repeat that measured it, in order (at least one).
        fmt: how one value is written (``"{:.2f}"``, ``"{:.0%}"``).

    Raises:
        ValueError: no values (a figure nothing measured is not compared: the rule says
            "not measured" instead).
    """

    words: str
    values: tuple[float, ...]
    fmt: str = "{:.2f}"

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError(f"{self.words}: no repeat measured it")

    @property
    def median(self) -> float:
        """The median over the repeats: the figure a sentence quotes."""
        return statistics.median(self.values)

    @property
    def repeats(self) -> int:
        """How many repeats measured it."""
        return len(self.values)

    def describe(self) -> str:
        """``"6.37"`` for one repeat (or repeats that agree to the digit), else
        ``"7.83 (6.42-7.96) over 5 repeats"``: the median with its spread, min-max."""
        median = self.fmt.format(self.median)
        low, high = self.fmt.format(min(self.values)), self.fmt.format(max(self.values))
        if self.repeats == 1 or low == high:
            return median
        return f"{median} ({low}-{high}) over {self.repeats} repeats"

    def times(self, factor: float, words: str, fmt: str | None = None) -> Figure:
        """This figure scaled by ``factor`` (a tolerance applied), named ``words``, written
        with ``fmt`` (default: as this one)."""
        return Figure(words, tuple(v * factor for v in self.values), fmt or self.fmt)


def threshold(value: float, words: str, fmt: str = "{:.2f}") -> Figure:
    """A fixed threshold as a figure of one value: ``threshold(7.2, "EVERY_VU x 8")``."""
    return Figure(words, (value,), fmt)


@dataclass(frozen=True)
class Comparison:
    """``figure op against``, decided over every repeat of both.

    Attributes:
        figure: what is compared; against: its threshold.
        op: a key of OPERATORS.

    Raises:
        KeyError: ``op`` is not a key of OPERATORS.
    """

    figure: Figure
    op: str
    against: Figure

    def __post_init__(self) -> None:
        OPERATORS[self.op]

    @property
    def outcomes(self) -> set[bool]:
        """The comparison's outcome for every pair of repeats (one of each figure)."""
        test = OPERATORS[self.op]
        return {bool(test(x, y)) for x in self.figure.values for y in self.against.values}

    @property
    def side(self) -> bool | None:
        """True or False when every pair of repeats agrees, None when they straddle."""
        found = self.outcomes
        return next(iter(found)) if len(found) == 1 else None

    @property
    def repeated(self) -> bool:
        """Either side was measured more than once (it has a spread to straddle)."""
        return self.figure.repeats > 1 or self.against.repeats > 1

    def describe(self) -> str:
        """``"gthread's Little's L 7.83 (6.42-7.96) over 5 repeats against >= 7.20
        (EVERY_VU x 8)"``; with ``straddles`` in place of ``against`` when undecided."""
        verb = "straddles" if self.side is None else "against"
        return f"{self.figure.words} {self.figure.describe()} {verb} {self.op} " \
               f"{self.against.describe()} ({self.against.words})"


def compare(figure: Figure, op: str, against: Figure) -> Comparison:
    """``Comparison(figure, op, against)``; see ``Comparison.side`` for its decision.

    Raises:
        KeyError: ``op`` is not a key of OPERATORS.
    """
    return Comparison(figure, op, against)


def every(comparisons: Iterable[Comparison]) -> bool | None:
    """Whether all hold: False as soon as one is decided False (one counter-example
    decides), True when every one is decided True, None otherwise (none decided False,
    some undecided). True for none at all."""
    sides = [c.side for c in comparisons]
    if False in sides:
        return False
    return None if None in sides else True


def some(comparisons: Iterable[Comparison]) -> bool | None:
    """Whether any holds: True as soon as one is decided True, False when every one is
    decided False, None otherwise. False for none at all."""
    sides = [c.side for c in comparisons]
    if True in sides:
        return True
    return None if None in sides else False


def straddling(comparisons: Iterable[Comparison]) -> list[Comparison]:
    """The comparisons whose repeats straddle their threshold, in order."""
    return [c for c in comparisons if c.side is None]
