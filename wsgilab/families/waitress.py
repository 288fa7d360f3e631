"""waitress 3.0.2: one process, I/O in its main thread, the app in a pool of threads.

Reported by: the running server: ``labinstrument.launchers.waitress`` runs waitress-serve's own
runner (``Adjustments.parse_args``) and publishes ``server.adj``, the adjustments of the
server it created. ``declared`` parses the compose command with the same parser.

Cap (waitress docs ``design.rst``, ``arguments.rst``; ``adjustments.py``):

- ``threads`` requests in the app at once (default 4): "a fixed pool of worker threads";
  the threads take tasks from one shared queue, so every thread is sustained.
- Up to ``connection_limit`` connections (default 100) are accepted by the main thread's
  asyncore loop; requests beyond the threads wait in its unbounded task queue ("Task queue
  depth is N" in the log). Past ``connection_limit`` it stops calling ``accept()`` and
  connections wait in the kernel backlog (``backlog``, default 1024).
- One process: CPU parallelism 1 (the GIL).
"""

from __future__ import annotations

from wsgilab.families import INSTRUMENTED_APP, Family, Knob, ProcessModel, entry_for, launched
from wsgilab.model.theory import Capacity

NAME = "waitress"
LAUNCHER = "labinstrument.launchers.waitress"
THREADS = Knob("threads", 1, 256, "a thread of the pool: one request more in flight")
REPORTED_BY = "the running server's Adjustments (server.adj), published by labinstrument.launchers.waitress"


def declared(command: list[str]) -> dict | None:
    """The adjustments a launcher command resolves to (the launcher's ``KEYS``), parsed by
    waitress itself."""
    return launched(NAME, command)


def model(settings: dict) -> Capacity:
    """The model from ``{"threads", "connection_limit"}``."""
    threads = settings["threads"]
    return Capacity(threads, f"threads = {threads} (connection_limit "
                    f"{settings['connection_limit']} accepted and queued)",
                    parallelism=1, processes=1)


def command(knobs: dict) -> tuple[str, ...]:
    """waitress-serve's own arguments, through the launcher."""
    return ("python3", "-m", LAUNCHER, "--threads", str(THREADS.check(knobs["threads"])),
            "--connection-limit", "100", "--backlog", "1024", "--listen", "0.0.0.0:8000",
            INSTRUMENTED_APP)


def paste(knobs: dict, entry: str) -> str:
    """``waitress-serve --threads N ... <entry>``."""
    return entry_for(("waitress-serve", *command(knobs)[3:]), entry)


FAMILY = Family(
    name="waitress", title="waitress threads", server=NAME, reported_by=REPORTED_BY,
    process=ProcessModel(threads=True), knobs=(THREADS,), requirements="servers", package="waitress",
    launcher=LAUNCHER, matches=lambda s: True, declared=declared, model=model,
    command=command, paste=paste,
    sized=lambda demand: [({"threads": THREADS.clamp(demand.in_flight)},
                           f"one process of threads behind waitress's own event loop: "
                           f"{demand.describe()}")],
    order=60
)
