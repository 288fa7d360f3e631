"""A level's load: closed (VUs) or open (an arrival rate), one type.

- **Closed** (``Closed``): a fixed number of virtual users (VUs), each sending its next
  request when the last one answered (k6's ``constant-vus``, no think time). A saturated
  server slows its clients down, so the queue stays in the clients: what a closed load
  cannot show is queueing delay (Schroeder, Wierman, Harchol-Balter, "Open Versus Closed:
  A Cautionary Tale", NSDI 2006).
- **Open** (``Open``): requests arrive at a rate, whether or not earlier ones answered
  (k6's ``constant-arrival-rate``), as production traffic does. k6 starts iterations
  evenly spaced (``CONSTANT`` arrivals: deterministic inter-arrival times, coefficient of
  variation 0), not as a Poisson process. ``POISSON`` arrivals are made by thinning: k6
  ticks at ``POISSON_TICKS_PER_REQUEST`` times the rate, and each tick sends with
  probability rate / tick rate, independently (a Bernoulli process, whose inter-arrival
  times are geometric: the discrete Poisson process, coefficient of variation
  sqrt(1 - p)). Each open level records the inter-arrival times it sent and their
  coefficient of variation, so that what was offered is measured, not assumed.

A request the generator could not send for lack of a free VU is a k6 ``dropped
iteration``; it counts as a failure: a request the server did not serve.

The k6 side reads a load from the environment (``k6_env``) in one place,
``k6/lib/lab.js`` (``Lab.scenario``): every workload's script runs under either model
unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CLOSED, OPEN = "closed", "open"
CONSTANT, POISSON = "constant", "poisson"
ARRIVALS = (CONSTANT, POISSON)
#: Poisson arrivals by thinning: ticks per request at the offered rate. 20 gives p = 0.05,
#: a coefficient of variation of sqrt(1 - 0.05) = 0.97.
POISSON_TICKS_PER_REQUEST = 20
#: The most ticks per second k6 is asked for (empty iterations cost it CPU on the load
#: core); above 100 req/s the ticks per request fall, p rises and the coefficient of
#: variation with it (0.87 at 500 req/s), and the measured one is recorded.
MAX_TICKS_PER_S = 2000
#: A stall of the load side (k6 descheduled on its shared core) that an open load's VUs
#: ride over, seconds. After one, k6 starts every iteration it missed at once, each on a
#: free VU, and drops those it has none for (k6 #2837). Thinning makes it acute: at
#: 100 req/s k6 ticks 2000 times a second, so a 50 ms stall wants 100 VUs for empty ticks
#: alone, and CI once dropped 46 ticks at 100 req/s on 101 VUs with the server idle. The
#: thinning's ticks get VUs for a stall this long on top of those for the requests.
LOAD_SIDE_STALL_S = 0.25
#: An open level's VUs: rate x the objective's latency bound (Little's law on the client
#: side) times this, so that k6 runs out of VUs (and drops iterations, a failure) only
#: once latency is twice the objective: such a level fails its objective anyway.
OPEN_VUS_HEADROOM = 2.0
#: An open rate is given to k6 in iterations per this many seconds (k6's ``rate`` is a
#: whole number per ``timeUnit``): a resolution of 0.001 req/s.
RATE_TIME_UNIT_S = 1000


@dataclass(frozen=True)
class Closed:
    """A closed-model load: ``vus`` virtual users, back to back (no think time)."""

    vus: int
    model = CLOSED

    def __post_init__(self) -> None:
        if self.vus < 1:
            raise ValueError(f"a closed load needs at least 1 VU, got {self.vus}")

    @property
    def most_vus(self) -> int:
        """The most VUs k6 may run for this load."""
        return self.vus

    @property
    def tag(self) -> str:
        """File-name form: ``vus-040``."""
        return f"vus-{self.vus:03d}"

    def describe(self) -> str:
        return f"{self.vus} VUs"

    def k6_env(self) -> dict[str, str]:
        """The variables ``k6/lib/lab.js`` reads the load from."""
        return {"LOAD_MODEL": CLOSED, "VUS": str(self.vus)}

    def to_dict(self) -> dict:
        return {"model": CLOSED, "vus": self.vus}


@dataclass(frozen=True)
class Open:
    """An open-model load: requests arriving at ``rate_rps`` per second.

    Attributes:
        rate_rps: the arrival rate, requests per second (> 0, to 0.001).
        vus: the VUs k6 pre-allocates and may use to sustain it (``preAllocatedVUs`` =
            ``maxVUs``: k6 starts at most one extra VU at a time, so an iteration with no
            free VU is dropped even below ``maxVUs``, k6 #2837).
        arrivals: ``constant`` (evenly spaced, k6's own) or ``poisson`` (thinning).
    """

    rate_rps: float
    vus: int
    arrivals: str = CONSTANT
    model = OPEN

    def __post_init__(self) -> None:
        if not self.rate_rps > 0:
            raise ValueError(f"an open load needs a rate above 0 req/s, got {self.rate_rps}")
        if self.vus < 1:
            raise ValueError(f"an open load needs at least 1 VU, got {self.vus}")
        if self.arrivals not in ARRIVALS:
            raise ValueError(f"arrivals must be one of {', '.join(ARRIVALS)}, got {self.arrivals!r}")

    @property
    def most_vus(self) -> int:
        return self.vus

    @property
    def tick_rate(self) -> float:
        """Iterations k6 starts per second: the rate itself, or the thinning's ticks."""
        return tick_rate(self.rate_rps, self.arrivals)

    @property
    def send_probability(self) -> float:
        """The chance that one of k6's iterations sends a request (1 for constant)."""
        return self.rate_rps / self.tick_rate

    @property
    def tag(self) -> str:
        """File-name form: ``rate-16`` or ``rate-12.5-poisson``."""
        return f"rate-{self.rate_rps:g}" + ("" if self.arrivals == CONSTANT else f"-{self.arrivals}")

    def describe(self) -> str:
        return f"{self.rate_rps:g} req/s" + ("" if self.arrivals == CONSTANT else f" ({self.arrivals})")

    def k6_env(self) -> dict[str, str]:
        return {"LOAD_MODEL": OPEN, "VUS": str(self.vus),
                "RATE_PER_UNIT": str(round(self.tick_rate * RATE_TIME_UNIT_S)),
                "RATE_TIME_UNIT_S": str(RATE_TIME_UNIT_S),
                "SEND_PROBABILITY": f"{self.send_probability:.6f}"}

    def to_dict(self) -> dict:
        return {"model": OPEN, "rate_rps": self.rate_rps, "vus": self.vus,
                "arrivals": self.arrivals}


Load = Closed | Open


def from_dict(data: dict) -> Load:
    """A load as ``to_dict`` wrote it.

    Raises:
        ValueError: an unknown model, or values a load cannot have.
    """
    if data.get("model", CLOSED) == CLOSED:
        return Closed(int(data["vus"]))
    if data["model"] == OPEN:
        return Open(float(data["rate_rps"]), int(data["vus"]), data.get("arrivals", CONSTANT))
    raise ValueError(f"unknown load model {data['model']!r}")


#: The least latency an open load's VUs are sized for, seconds: a zero-work request through
#: the proxy under load (the server-overhead level) still takes a few milliseconds, and
#: tens when the server queues.
OPEN_MIN_LATENCY_S = 0.1


def tick_rate(rate_rps: float, arrivals: str = CONSTANT) -> float:
    """Iterations per second k6 starts for ``rate_rps`` requests per second: the rate
    itself for constant arrivals, POISSON_TICKS_PER_REQUEST times it (at most
    MAX_TICKS_PER_S, never below the rate) for Poisson arrivals by thinning."""
    if arrivals == CONSTANT:
        return rate_rps
    return max(rate_rps, min(rate_rps * POISSON_TICKS_PER_REQUEST, MAX_TICKS_PER_S))


def open_vus(rate_rps: float, latency_s: float, headroom: float,
             arrivals: str = CONSTANT) -> int:
    """VUs an open load needs: Little's law on the client side, rate x latency (at least
    OPEN_MIN_LATENCY_S), times ``headroom`` for latency above the expected, and one more;
    for Poisson arrivals also the thinning's empty ticks over a load-side stall
    (tick rate x LOAD_SIDE_STALL_S), since each tick holds a VU while k6 catches up.

    Args:
        rate_rps: the arrival rate (req/s); latency_s: the latency each request is
            expected to take at most (seconds: the objective's bound); headroom: >= 1;
            arrivals: CONSTANT or POISSON.
    """
    requests = math.ceil(rate_rps * max(latency_s, OPEN_MIN_LATENCY_S) * headroom) + 1
    if arrivals == CONSTANT:
        return requests
    return requests + math.ceil((tick_rate(rate_rps, arrivals) - rate_rps) * LOAD_SIDE_STALL_S)
