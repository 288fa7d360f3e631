"""One level's load split across N k6 processes by execution segments, in exact fractions.

k6 has no coordinator: each instance is told its own segment of the test, ``(from, to]``
of [0, 1], and the sequence of every segment (``--execution-segment "1/4:1/2"
--execution-segment-sequence "0,1/4,1/2,3/4,1"``), and works out its own share of every
scenario from those two alone. The shares are whole numbers of VUs, so they cannot all be
``length x VUs``; k6 deals them out so that the shares of a sequence always add up to the
whole. The rules here are k6 v1.1.0's own (``lib/execution_segment.go``,
``lib/executor/constant_vus.go``, ``lib/executor/constant_arrival_rate.go``), read from its
source and ported as they stand:

- **Striping** (``NewExecutionSegmentSequenceWrapper``): with L the least common
  denominator of the segments' lengths, each run of L consecutive units (VUs, or an
  open load's iterations) is dealt out, segment ``i`` taking ``length_i x L`` of them, the
  longest segments served first, and the same pattern repeats every L units.
- **A closed load** (``constant-vus``): instance ``i`` runs ``ScaleInt64(i, VUs)`` VUs, the
  units of ``0..VUs-1`` that fall to it.
- **An open load** (``constant-arrival-rate``): instance ``i`` gets its share of the
  pre-allocated and of the most VUs, as above; then (``Init``) k6 builds a *new* sequence
  from those VU shares (``GetNewExecutionSegmentSequenceFromValue(maxVUs)``: segment ``i``
  of length ``vus_i / maxVUs``, instances without a VU left out), and the instance starts
  the iterations of the whole test's schedule, one every ``timeUnit / rate``, that this
  new sequence stripes to it. Its rate is therefore ``rate x vus_i / maxVUs``: it follows
  the VUs an instance got, not its segment's length (3 VUs over 2 instances: 2/3 and 1/3
  of the rate, not halves), and an instance with no VU sends nothing. Every tick of the
  whole schedule is sent by exactly one instance.

Every function here works on one scenario's own numbers (the VUs and rate ``k6/lib/lab.js``
gives it, after its ``share``): k6 scales each scenario of a script separately, so a
scenario of fewer VUs than instances leaves some instance none of it. A thinned (Poisson)
open load stays one: each instance thins its own ticks with the same probability, and the
union of independent thinnings of disjoint ticks is the thinning of them all.

Checked against k6 v1.1.0 itself in tests/unit/test_merge.py: the VUs ``k6 inspect`` gives
each segment, and the arrivals of an open load run as two segments.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction


class SegmentError(ValueError):
    """Segments or a sequence that do not cover [0, 1] exactly once, or that k6 would refuse."""


def segments(n: int) -> tuple[str, list[str]]:
    """``n`` equal execution segments of a whole test, as k6 writes them.

    Returns:
        ``(sequence, [segment, ...])``: the sequence ``"0,1/n,2/n,...,1"`` for
        ``--execution-segment-sequence`` and the ``n`` segments ``"i/n:(i+1)/n"``, in order,
        for each instance's ``--execution-segment``. Fractions are reduced (``2/4`` is
        written ``1/2``), as k6's own ``String()`` writes them.

    Raises:
        SegmentError: ``n`` is not a whole number of at least 1.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise SegmentError(f"a load splits into at least 1 instance, got {n!r}")
    points = [Fraction(i, n) for i in range(n + 1)]
    return (",".join(str(p) for p in points),
            [f"{start}:{end}" for start, end in zip(points, points[1:], strict=False)])


def parse_point(text: str) -> Fraction:
    """One point of a segment or sequence as k6 reads it (``stringToRat``): a fraction
    (``1/3``), a decimal (``0.25``) or a percentage (``25%``).

    Raises:
        SegmentError: none of those.
    """
    text = text.strip()
    try:
        if text.endswith("%"):
            return Fraction(int(text[:-1]), 100)
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise SegmentError(f"{text!r} is not a fraction, decimal or percentage") from None


def parse_segment(text: str) -> tuple[Fraction, Fraction]:
    """An ``--execution-segment`` value as ``(from, to)``: ``"a:b"``, or ``"b"`` for
    ``0:b``, or the empty string for the whole test (k6's ``NewExecutionSegmentFromString``).

    Raises:
        SegmentError: a malformed point, or not ``0 <= from < to <= 1``.
    """
    start, end = (text.split(":", 1) if ":" in text else ("0", text or "1"))
    low, high = parse_point(start), parse_point(end)
    if not 0 <= low < high <= 1:
        raise SegmentError(f"segment {text!r}: k6 needs 0 <= from < to <= 1")
    return low, high


def parse_sequence(text: str) -> list[Fraction]:
    """An ``--execution-segment-sequence`` value as its points, ``[0, ..., 1]``.

    Raises:
        SegmentError: a malformed point, fewer than 2 points, points not increasing, or a
            sequence that does not run from 0 to 1 (the lab's sequences always do; k6 would
            fill the gaps with segments nobody runs, and that part of the load would be lost).
    """
    points = [parse_point(p) for p in text.split(",")]
    if len(points) < 2:
        raise SegmentError(f"sequence {text!r}: at least 2 points are needed")
    if any(b <= a for a, b in zip(points, points[1:], strict=False)):
        raise SegmentError(f"sequence {text!r}: points must increase")
    if points[0] != 0 or points[-1] != 1:
        raise SegmentError(f"sequence {text!r} does not run from 0 to 1")
    return points


def check_cover(sequence: str, parts: Sequence[str]) -> None:
    """Check that the instances' segments ``parts`` are the sequence's segments, each
    exactly once: together they cover [0, 1] with no gap and no overlap.

    Raises:
        SegmentError: a part that is not a segment of the sequence, one given twice, or a
            segment of the sequence that no instance runs.
    """
    points = parse_sequence(sequence)
    expected = list(zip(points, points[1:], strict=False))
    given = [parse_segment(p) for p in parts]
    for segment, text in zip(given, parts, strict=True):
        if segment not in expected:
            raise SegmentError(f"segment {text!r} is not one of the sequence {sequence!r}")
    if len(set(given)) != len(given):
        raise SegmentError(f"segments {list(parts)} run a part of the load twice")
    missing = [f"{a}:{b}" for a, b in expected if (a, b) not in given]
    if missing:
        raise SegmentError(f"segments {missing} of {sequence!r} are run by no instance")


def _lengths(points: Sequence[Fraction]) -> list[Fraction]:
    return [b - a for a, b in zip(points, points[1:], strict=False)]


def stripes(lengths: Sequence[Fraction]) -> tuple[int, list[list[int]]]:
    """k6's striping of a full sequence (``NewExecutionSegmentSequenceWrapper``).

    Args:
        lengths: the segments' lengths, in sequence order, adding up to 1.

    Returns:
        ``(lcd, owned)``: ``lcd`` the least common denominator of the lengths (the period
        of the pattern), and ``owned[i]`` the units of ``0..lcd-1`` segment ``i`` takes, in
        increasing order; unit ``u`` of any count belongs to the segment owning ``u % lcd``.

    Raises:
        SegmentError: lengths that are not positive or do not add up to 1.
    """
    if any(length <= 0 for length in lengths) or sum(lengths) != 1:
        raise SegmentError(f"segment lengths {[str(x) for x in lengths]} do not divide [0, 1]")
    lcd = math.lcm(*(length.denominator for length in lengths))
    normalized = [length.numerator * (lcd // length.denominator) for length in lengths]
    # Longest first, ties in sequence order (k6 sorts stably): the longest segments have the
    # most units to take and the least room to keep them apart.
    order = sorted(range(len(lengths)), key=lambda i: -normalized[i])
    chosen = [0] * len(order)
    owned: list[list[int]] = [[] for _ in lengths]
    for unit in range(lcd):
        for rank, index in enumerate(order):
            # A segment takes the unit once unit >= chosen x lcd / its share (k6's integer
            # form of that comparison, kept as it is so that ties fall the same way).
            num, den = chosen[rank] * lcd, normalized[index]
            if unit > num // den or (unit == num // den and num % den == 0):
                chosen[rank] += 1
                owned[index].append(unit)
                break
    return lcd, owned


def scale(lengths: Sequence[Fraction], index: int, value: int) -> int:
    """Segment ``index``'s share of ``value`` whole units (k6's ``ScaleInt64``): the units of
    ``0..value-1`` its stripes own. The shares of every segment add up to ``value``.

    Raises:
        SegmentError: see ``stripes``; IndexError: no segment ``index``.
    """
    if len(lengths) == 1:
        return value  # k6: a sequence of one segment is no segmentation
    lcd, owned = stripes(lengths)
    whole, rest = divmod(value, lcd)
    return whole * len(owned[index]) + sum(1 for unit in owned[index] if unit < rest)


def closed_shares(vus: int, n: int) -> list[int]:
    """The VUs each of ``n`` equal segments runs of a closed scenario of ``vus`` VUs
    (``constant-vus``): ``vus // n`` each, and one more for the first ``vus % n``; an
    instance with 0 runs none of that scenario. They add up to ``vus``.

    Raises:
        SegmentError: see ``segments``.
    """
    sequence, _ = segments(n)
    lengths = _lengths(parse_sequence(sequence))
    return [scale(lengths, i, vus) for i in range(n)]


@dataclass(frozen=True)
class OpenShare:
    """One instance's part of an open scenario (``constant-arrival-rate``).

    Attributes:
        vus: its pre-allocated VUs (= maxVUs in the lab's scenarios).
        rate: its arrival rate, iterations per the scenario's time unit, exact; 0 for an
            instance without a VU.
        sequence: the points of the sequence k6 re-segmented the scenario into from the VU
            shares (instances without a VU left out), whose stripes say which iterations
            of the whole schedule each instance starts.
        index: this instance's segment in ``sequence``, None for an instance without a VU.
    """

    vus: int
    rate: Fraction
    sequence: tuple[Fraction, ...]
    index: int | None

    def ticks(self, count: int) -> list[int]:
        """Which of the whole schedule's first ``count`` iterations (0-based; iteration ``g``
        starts at ``g x timeUnit / rate``) this instance starts."""
        if self.index is None:
            return []
        lcd, owned = stripes(_lengths(self.sequence))
        mine = set(owned[self.index])
        return [g for g in range(count) if g % lcd in mine]


def open_shares(rate: int, vus: int, n: int) -> list[OpenShare]:
    """Each of ``n`` equal segments' part of an open scenario of ``rate`` iterations per
    time unit on ``vus`` pre-allocated VUs (= maxVUs, as ``k6/lib/lab.js`` sets them).

    VUs are shared as a closed load's are; the rate in proportion to the VUs, ``rate x
    vus_i / vus`` (k6 re-segments by maxVUs: see the module's docstring). The rates add up
    to ``rate`` exactly, and every iteration of the schedule falls to one instance.

    Raises:
        SegmentError: see ``segments``; ValueError: ``rate`` or ``vus`` below 1.
    """
    if rate < 1 or vus < 1:
        raise ValueError(f"an open scenario needs a rate and VUs of at least 1, got {rate}, {vus}")
    vu_shares = closed_shares(vus, n)
    # k6 keeps the original sequence when maxVUs divides by its period; the sequence built
    # from the shares is then that same one, so one rule serves both cases.
    edges, kept = [Fraction(0)], {}
    for i, v in enumerate(vu_shares):
        if v:
            kept[i] = len(edges) - 1
            edges.append(edges[-1] + Fraction(v, vus))
    return [OpenShare(v, Fraction(rate * v, vus), tuple(edges), kept.get(i))
            for i, v in enumerate(vu_shares)]


@dataclass(frozen=True)
class Part:
    """One k6 instance's part of a split level: its ``--execution-segment`` and the
    ``--execution-segment-sequence`` every instance of the level is given, both as k6 reads
    them (``"1/4:1/2"``, ``"0,1/4,1/2,3/4,1"``).

    Raises:
        SegmentError: on construction, a malformed segment or sequence, or a segment that is
            not one of the sequence's.
    """

    segment: str
    sequence: str

    def __post_init__(self) -> None:
        # Refused here rather than by k6 once the level has begun: a segment that is not
        # one of its sequence's would leave part of the load to nobody, or run it twice.
        points = parse_sequence(self.sequence)
        if parse_segment(self.segment) not in zip(points, points[1:], strict=False):
            raise SegmentError(f"segment {self.segment!r} is not one of the sequence {self.sequence!r}")


def parts(n: int) -> list[Part]:
    """The ``n`` instances of a level split into equal segments, in sequence order.

    Raises:
        SegmentError: see ``segments``.
    """
    sequence, each = segments(n)
    check_cover(sequence, each)
    return [Part(segment, sequence) for segment in each]
