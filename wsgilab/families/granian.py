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

from wsgilab.families import INSTRUMENTED_APP, Family, Knob, ProcessModel, entry_for, launched
from wsgilab.model.theory import Capacity

NAME = "granian"
LAUNCHER = "labinstrument.launchers.granian"
WORKERS = Knob("workers", 1, 16, "a process with its own interpreter and its own threads")
THREADS = Knob("blocking_threads", 1, 256, "a thread running the app: one request more in flight")
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


def command(knobs: dict) -> tuple[str, ...]:
    """granian's own arguments, through the launcher."""
    return ("python3", "-m", LAUNCHER, "--interface", "wsgi", "--host", "0.0.0.0", "--port",
            "8000", "--workers", str(WORKERS.check(knobs["workers"])), "--blocking-threads",
            str(THREADS.check(knobs["blocking_threads"])), "--backpressure", "1024",
            INSTRUMENTED_APP)


def paste(knobs: dict, entry: str) -> str:
    """``granian --interface wsgi ... <entry>``."""
    return entry_for(("granian", *command(knobs)[3:]), entry)


FAMILY = Family(
    name="granian", title="granian WSGI", server=NAME, reported_by=REPORTED_BY,
    process=ProcessModel(threads=True), knobs=(WORKERS, THREADS), requirements="servers", package="granian",
    launcher=LAUNCHER, matches=lambda s: True, declared=declared, model=model,
    command=command, paste=paste,
    sized=lambda demand: [({"workers": demand.processes,
                            "blocking_threads": THREADS.clamp(demand.per_process(demand.processes))},
                           f"granian's Rust I/O, the app on blocking threads, a worker per CPU: "
                           f"{demand.describe()}")],
    order=70
)
