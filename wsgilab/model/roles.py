"""The roles configurations play: the names the engine uses instead of configuration names.

A claim, a workload's default plan or a fault scenario that needs "gunicorn's sync
workers" asks for the role ``sync-workers``; which configuration plays it is data, the
``lab.roles`` label on its compose service (``compose.roles``), recorded with every run
(``BenchRecord.roles``). Renaming a configuration, or giving a role to another one, changes
a label, not the engine; every count a verdict quotes is read from the settings of the
configuration that played the role.
"""

from __future__ import annotations

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
