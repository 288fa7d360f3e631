"""uWSGI with processes of threads: ``processes x threads`` requests at once.

Each worker thread blocks in ``accept()`` itself, so a worker takes a connection only when
one of its threads is free: every thread is sustained. One GIL per process. Settings, the
model and their sources: ``_uwsgi``.
"""

from __future__ import annotations

from wsgilab.families import Family, Knob, ProcessModel, _uwsgi

PROCESSES = Knob("processes", 1, 16, "a worker process with its own GIL")
THREADS = Knob("threads", 1, 128, "a thread of a worker: one request more in flight")


def _command(knobs: dict) -> tuple[str, ...]:
    return _uwsgi.command(PROCESSES.check(knobs["processes"]), "--threads",
                          str(THREADS.check(knobs["threads"])), "--enable-threads")


FAMILY = Family(
    name="uwsgi-threads", title="uWSGI processes x threads", server=_uwsgi.NAME,
    reported_by=_uwsgi.REPORTED_BY, process=ProcessModel(threads=True),
    knobs=(PROCESSES, THREADS), requirements="servers", package="pyuwsgi",
    launcher="labinstrument.launchers.uwsgi",
    matches=lambda s: not s.get("gevent"),
    declared=_uwsgi.declared, model=_uwsgi.model, command=_command,
    paste=lambda knobs, entry: _uwsgi.paste(_command(knobs), entry),
    sized=lambda demand: [({"processes": demand.processes,
                            "threads": THREADS.clamp(demand.per_process(demand.processes))},
                           f"uWSGI's threads accept only when free; a process per CPU: "
                           f"{demand.describe()}")],
    order=50
)
