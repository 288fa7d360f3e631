"""The search around the law: when a family's next size is worth measuring.

Little's law gives a family its start (``sizing.Demand``); only measurement finds its top.
One search of a configuration here differs from the next by more than a step's gain
(CLEARLY_LOWER), so the walk does not stop at the first step that holds no more: it stops
at a step clearly lower than the best so far, at a lower bound (this machine cannot tell
past it), or after REFINE_FLAT_STEPS steps in a row that held no more than the noise.
"""

from __future__ import annotations

from dataclasses import dataclass

from wsgilab.verdicts.recommend import SEARCH_SPREAD, beyond_noise

#: The law's count times these, in order: up, and down only where no step up rose.
REFINE_UP = 2.0
REFINE_DOWN = 0.5
#: The most candidates the search adds per family (each a closed level and a search,
#: about 40 s here: two families stay inside ``make advise``'s 15 minutes).
REFINE_MOST_STEPS = 3
#: Steps in a row that hold no more than SAME_CAPACITY over the best before the walk
#: stops: one flat step is within one search's noise of a rise (records/advise-notes of
#: 2026-12-06: granian 1 x 1 held 308.8, 1 x 2 310.5, and the sweep's 1 x 4 380.8).
REFINE_FLAT_STEPS = 2
#: A step below the best so far by more than this share is clearly lower, not noise: how
#: far two searches of one configuration land here (``recommend.SEARCH_SPREAD``, from the
#: advise records).
CLEARLY_LOWER = SEARCH_SPREAD


@dataclass
class Walk:
    """One family's walk from its start (``best_rps``: the start's capacity, req/s).

    ``step`` reads each step's capacity and says whether to measure the next; ``rose``
    says whether any step held more than the start by more than the noise (then the walk
    does not turn down)."""

    best_rps: float
    same: float
    flat: int = 0
    rose: bool = False
    steps: int = 0
    stopped: str = ""

    def step(self, capacity_rps: float | None, lower_bound: bool, measured: bool = True) -> bool:
        """Record one step (its capacity, req/s, None where it held nothing; whether it is a
        lower bound; ``measured``: False for a size the run had already measured, which
        the walk reads but does not count against REFINE_MOST_STEPS) and return whether to
        measure the next size in this direction; the reason it stops is in ``stopped``."""
        self.steps += measured
        held = capacity_rps or 0.0
        if held > self.best_rps * (1 + self.same):
            self.rose, self.flat = True, 0
            self.best_rps = held
        elif beyond_noise(self.best_rps, held):  # lower by more than CLEARLY_LOWER
            self.stopped = "clearly lower"
            return False
        else:
            self.flat += 1
        if lower_bound:
            self.stopped = "a lower bound: this machine cannot tell past it"
            return False
        if self.flat >= REFINE_FLAT_STEPS:
            self.stopped = f"{self.flat} steps in a row within the noise"
            return False
        if self.steps >= REFINE_MOST_STEPS:
            self.stopped = f"{REFINE_MOST_STEPS} steps"
            return False
        return True
