"""uWSGI with gevent: ``processes x gevent`` async cores, greenlets on one hub per process,
monkey-patched before the app loads (``--gevent-early-monkey-patch``). Settings, the model
and their sources: ``_uwsgi``.
"""

from __future__ import annotations

from wsgilab.families import Family, Knob, ProcessModel, _uwsgi

PROCESSES = Knob("processes", 1, 16, "a worker process with its own hub")
CORES = Knob("gevent", 1, 10_000, "an async core (a greenlet): one request more in flight")


def _command(knobs: dict) -> tuple[str, ...]:
    return _uwsgi.command(PROCESSES.check(knobs["processes"]), "--gevent",
                          str(CORES.check(knobs["gevent"])), "--gevent-early-monkey-patch")


FAMILY = Family(
    name="uwsgi-gevent", title="uWSGI gevent", server=_uwsgi.NAME,
    reported_by=_uwsgi.REPORTED_BY, process=ProcessModel(greenlets=True),
    knobs=(PROCESSES, CORES), requirements="servers", package="pyuwsgi", needs=("gevent",),
    launcher="labinstrument.launchers.uwsgi",
    matches=lambda s: bool(s.get("gevent")),
    declared=_uwsgi.declared, model=_uwsgi.model, command=_command,
    paste=lambda knobs, entry: _uwsgi.paste(_command(knobs), entry),
    order=55
)
