"""A latency objective (SLO): the percentile of latency a configuration must keep under a
bound, with no error and no dropped request, for a rate to count as served.

``--slo p99=500ms`` (or ``p95=300ms``, ``p99=1.5s``) sets the bound; by default it is
``DEFAULT_SERVICE_MULTIPLE`` times the request's own service time (the time it waits on
I/O, or burns on the CPU), so that the objective means the same at any request length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The default bound: a request may spend as long again waiting as it spends being served.
#: Past that, queueing is most of what a user waits for (an M/D/1 queue reaches it at 67%
#: utilisation; an evenly spaced arrival stream not before saturation).
DEFAULT_SERVICE_MULTIPLE = 2.0
#: The percentiles an objective may name (k6's summary reports these).
PERCENTILES = ("p50", "p95", "p99")
DEFAULT_PERCENTILE = "p99"
_SLO = re.compile(r"^(p50|p95|p99)=([0-9]+(?:\.[0-9]+)?)(ms|s)$")


@dataclass(frozen=True)
class Objective:
    """A latency objective.

    Attributes:
        percentile: ``p50``, ``p95`` or ``p99``.
        bound_ms: the bound in milliseconds, or None: ``multiple`` x the request's service
            time (``bound_for``).
        multiple: the default bound's multiple of the service time.
    """

    percentile: str = DEFAULT_PERCENTILE
    bound_ms: float | None = None
    multiple: float = DEFAULT_SERVICE_MULTIPLE

    def __post_init__(self) -> None:
        if self.percentile not in PERCENTILES:
            raise ValueError(f"an objective's percentile is one of {', '.join(PERCENTILES)}, "
                             f"got {self.percentile!r}")
        if self.bound_ms is not None and not self.bound_ms > 0:
            raise ValueError(f"an objective's bound must be above 0 ms, got {self.bound_ms}")

    @property
    def figure(self) -> str:
        """The level figure the objective reads: ``latency_p99_ms``."""
        return f"latency_{self.percentile}_ms"

    def bound_for(self, service_ms: float) -> float:
        """The bound, in milliseconds, for a request served in ``service_ms``."""
        return self.bound_ms if self.bound_ms is not None else self.multiple * service_ms

    def describe(self, service_ms: float | None = None) -> str:
        """``p99 <= 500 ms`` (or ``p99 <= 2 x the service time``)."""
        if self.bound_ms is not None:
            return f"{self.percentile} <= {self.bound_ms:g} ms"
        if service_ms is not None:
            return (f"{self.percentile} <= {self.bound_for(service_ms):g} ms "
                    f"({self.multiple:g} x {service_ms:g} ms)")
        return f"{self.percentile} <= {self.multiple:g} x the service time"

    def to_dict(self) -> dict:
        return {"percentile": self.percentile, "bound_ms": self.bound_ms, "multiple": self.multiple}

    @classmethod
    def from_dict(cls, data: dict | None) -> Objective:
        return cls(**(data or {}))


def parse(text: str) -> Objective:
    """``"p99=500ms"`` -> ``Objective("p99", 500.0)``; ``""`` -> the default objective.

    Raises:
        ValueError: not ``p50|p95|p99=<number>ms|s``.
    """
    if not text:
        return Objective()
    match = _SLO.match(text.strip())
    if not match:
        raise ValueError(f"--slo takes p50, p95 or p99 = a time in ms or s (e.g. p99=500ms, "
                         f"p95=1.5s), got {text!r}")
    percentile, number, unit = match.groups()
    return Objective(percentile, float(number) * (1000.0 if unit == "s" else 1.0))
