"""CPU-bound work measured with the serving thread's own CPU clock.

``time.thread_time()`` counts CPU time of the calling thread only (POSIX
``CLOCK_THREAD_CPUTIME_ID``; Python docs, ``time.thread_time``): time spent waiting for the
GIL, for the CFS quota of the container's cgroup, or for another process on the core is not
counted. So ``burn(0.05)`` does 50 ms of work whatever the contention, and the wall time it
takes shows the contention.
"""

from __future__ import annotations

import time

#: Iterations per slice of work between two reads of the thread's CPU clock: about 30-60 µs
#: of pure Python here, so a request overshoots its target by well under 1%.
_SLICE = 500


def burn(seconds: float) -> float:
    """Run pure-Python arithmetic until this thread has used ``seconds`` of CPU time.

    Pure Python holds the GIL throughout (no C call releases it), which is what CPU-bound
    request handlers do, and under gevent it never yields to the hub.

    Args:
        seconds: CPU time to use, in seconds (>= 0).

    Returns:
        the CPU time actually used by this thread, in seconds (>= ``seconds``).
    """
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        _slice()
    return time.thread_time() - start


def _slice() -> int:
    acc = 0
    for i in range(_SLICE):
        acc += i * i
    return acc


def slice_cost_us(slices: int = 4000) -> float:
    """CPU time of one slice of ``burn``'s work on this interpreter, in microseconds (this
    thread's CPU clock over ``slices`` slices). ``burn`` spends a fixed CPU time per
    request, so a slower interpreter does less work in it: this is how much less (the
    free-threaded build's single-thread cost, ``make bench-python``).

    Raises:
        ValueError: ``slices`` < 1.
    """
    if slices < 1:
        raise ValueError(f"slices must be at least 1, got {slices}")
    start = time.thread_time()
    for _ in range(slices):
        _slice()
    return (time.thread_time() - start) / slices * 1e6
