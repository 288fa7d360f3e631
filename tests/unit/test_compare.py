"""Two runs compared: changes flagged against the noise the runs measured."""

import copy

from support import SMALL_RUN
from wsgilab.model.levels import Level
from wsgilab.model.record import BenchRecord
from wsgilab.report import compare


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
