"""The workloads the bench can run, one module each.

Each module here declares ``WORKLOAD``, a ``base.Workload``: its k6 script (over the
shared ``k6/lib/lab.js``), its parameters, its request classes, its expectation rule, its
figures (result fields) and the levels of its default plan. Adding a workload means adding
its module here and its k6 script; nothing else looks a workload up by name.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from wsgilab.workloads.base import Workload

#: Modules of this package that are not workloads.
_NOT_WORKLOADS = {"base"}


@cache
def registry() -> dict[str, Workload]:
    """Every workload, by name, in the order their modules declare ``ORDER``."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_WORKLOADS:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.append(module.WORKLOAD)
    return {w.name: w for w in sorted(found, key=lambda w: (w.order, w.name))}


def get(name: str) -> Workload:
    """The workload called ``name``.

    Raises:
        KeyError: no such workload (the message lists the known ones).
    """
    try:
        return registry()[name]
    except KeyError:
        raise KeyError(f"unknown workload {name!r}; known: {', '.join(registry())}") from None
