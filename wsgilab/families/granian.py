"""granian 2.8.7, WSGI interface: Rust I/O, the app on a pool of blocking threads.

Reported by: the running server: ``labinstrument.launchers.granian`` runs granian's own click
command and publishes the attributes of the ``Server`` it built, after its ``__init__``
resolved the defaults. ``declared`` parses the compose command the same way, nothing served.

Cap (granian README "Workers and threads", "Backpressure"; ``server/common.py``):

- ``workers x blocking_threads`` requests in the app at once: blocking threads are "the
  maximum amount of threads interacting with your application code". Defaults: 1
  worker, ``backpressure = backlog // workers`` = 1024, WSGI ``blocking_threads =
  backpressure // 2`` = 512.
- ``backpressure`` limits *connections* per worker, not requests ("it will limit
  connections, not the single requests"): idle keep-alive connections spend it. Beyond
  it connections wait in the worker's socket queue. So the cap is also at most
  ``workers x backpressure``.
- Each worker a process with its own interpreter: CPU parallelism = workers; its blocking
  threads share that process's GIL.
"""

from __future__ import annotations

from wsgilab.families import launched
from wsgilab.model.theory import Capacity

NAME = "granian"
REPORTED_BY = "the running Server's resolved attributes, published by labinstrument.launchers.granian"
KEYS = ("interface", "workers", "blocking_threads", "backpressure", "backlog")


def declared(command: list[str]) -> dict | None:
    """What a launcher command resolves to, parsed and resolved by granian itself."""
    return launched(NAME, command, KEYS)


def model(settings: dict) -> Capacity:
    """The model from ``{"workers", "blocking_threads", "backpressure"}``."""
    workers, threads, bp = settings["workers"], settings["blocking_threads"], settings["backpressure"]
    per_worker = min(threads, bp)
    formula = f"workers x blocking threads = {workers} x {threads}"
    if bp < threads:
        formula = f"workers x backpressure = {workers} x {bp} (below {threads} blocking threads)"
    return Capacity(workers * per_worker, formula, parallelism=workers, processes=workers + 1)
