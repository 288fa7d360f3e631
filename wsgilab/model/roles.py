"""The roles configurations play: the names the engine uses instead of configuration names.

A claim, a workload's default plan or a fault scenario that needs "gunicorn's sync
workers" asks for the role ``sync-workers``; which configuration plays it is data, the
``lab.roles`` label on its compose service (``compose.roles``), recorded with every run
(``BenchRecord.roles``). Renaming a configuration, or giving a role to another one, changes
a label, not the engine; every count a verdict quotes is read from the settings of the
configuration that played the role.

A role can have several players (two configurations labelled with it): code that runs or
names one configuration takes the first (``player``); the claims take the first player
that has the levels they read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

#: Every role, with what a configuration must be to play it.
ROLES = {
    "dev-server": "app.run() as Flask starts it: Werkzeug's development server, threaded "
                  "(Flask's default since 1.0)",
    "dev-server-single": "app.run(threaded=False): one request at a time",
    "dev-server-forking": "app.run(threaded=False, processes=N): a fork per request",
    "sync-workers": "gunicorn's sync workers (its default worker class); the worker count "
                    "read from a variable, for the sweep and the sizing rules",
    "gthread-workers": "gunicorn's gthread worker with several workers, workers and threads "
                       "read from variables (the seeds' 2 x 4)",
    "gthread-one-process": "gunicorn's gthread worker, one worker of threads",
    "gthread-accept-bounded": "gthread with several workers and --worker-connections = threads",
    "gevent-workers": "gunicorn's gevent worker; workers, worker connections and timeout "
                      "read from variables",
    "gevent-preload": "the gevent worker with --preload (the app imported before the patch)",
    "eventlet-workers": "gunicorn's eventlet worker",
    "uwsgi-threaded": "uWSGI with several processes of several threads",
    "granian-blocking-threads": "granian's WSGI interface, backpressure read from a variable",
    "waitress-threads": "waitress, its thread count read from a variable",
}


def players(roles: Mapping[str, Sequence[str] | str], role: str) -> list[str]:
    """The configurations that play ``role``, in the order recorded; [] when none does.

    Args:
        roles: ``{role: [configuration, ...]}`` (``compose.roles``, ``BenchRecord.roles``).
            A bare ``{role: "configuration"}`` is read as one player: records written
            before a role could have several hold that shape.
    """
    found = roles.get(role) or []
    return [found] if isinstance(found, str) else list(found)


def player(roles: Mapping[str, Sequence[str] | str], role: str) -> str | None:
    """The first configuration that plays ``role`` (``players``), or None when none does:
    what code that runs or names one configuration for a role takes."""
    return next(iter(players(roles, role)), None)


def normalised(roles: Mapping[str, Sequence[str] | str]) -> dict[str, list[str]]:
    """``roles`` as ``{role: [configuration, ...]}``, whichever of the two shapes
    ``players`` reads it was written in; the order of roles and of players is kept."""
    return {role: players(roles, role) for role in roles}
