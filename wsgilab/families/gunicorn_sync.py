"""gunicorn's sync worker (its default worker class): one request per worker process.

"1 request/worker" (gunicorn docs, ``design.md``): ``workers`` requests at once, each
worker a process of its own, so as many CPUs for Python. Settings, the model and their
sources: ``_gunicorn``.
"""

from __future__ import annotations

from wsgilab.families import Family, Knob, ProcessModel, _gunicorn
from wsgilab.model.sizing import Demand

WORKERS = Knob("workers", 1, 64, "a process, one request at a time")


def _command(knobs: dict) -> tuple[str, ...]:
    return _gunicorn.command(WORKERS.check(knobs["workers"]))


def _sized(demand: Demand) -> tuple[dict, str]:
    # One request per process: the law's count, as far as the memory holds processes.
    workers = WORKERS.clamp(min(demand.in_flight, max(1, demand.most_processes)))
    why = f"a worker per request in flight: {demand.describe()}"
    if workers < demand.in_flight:
        why += f"; the memory holds {workers}"
    return {"workers": workers}, why


FAMILY = Family(
    name="gunicorn-sync", title="gunicorn sync", server=_gunicorn.NAME,
    reported_by=_gunicorn.REPORTED_BY, process=ProcessModel(), knobs=(WORKERS,),
    requirements="servers", package="gunicorn", launcher=None,
    matches=lambda s: s.get("worker_class") == "sync",
    declared=_gunicorn.declared, model=_gunicorn.model, command=_command,
    paste=lambda knobs, entry: _gunicorn.paste(_command(knobs), entry),
    config_file=_gunicorn.config_file, timeout_s=_gunicorn.timeout_s,
    sized=lambda demand: [_sized(demand)],
    light=True, order=10
)
