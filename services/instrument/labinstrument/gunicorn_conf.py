"""Gunicorn settings shared by every gunicorn configuration of the lab
(``gunicorn -c python:labinstrument.gunicorn_conf``).

Only settings that do not change concurrency live here; workers, threads, the worker class
and worker connections are given on each configuration's command line, so that a
configuration's concurrency is stated in one place (its compose file).
"""

import os

import gunicorn

from labinstrument import agent, settings

bind = "0.0.0.0:8000"
# The root filesystem is read-only: the worker heartbeat file lives on tmpfs.
worker_tmp_dir = "/dev/shm"
# gunicorn >= 25.1 opens a control socket under $HOME by default; nothing uses it here.
control_socket_disable = True
accesslog = None
errorlog = "-"


def on_starting(server):
    """Publish the resolved settings to the workers (forked later, so they inherit them),
    and start the lab's agent in the arbiter (``labinstrument.agent``): the cgroup's
    counters answered outside the workers' concurrency.

    ``cfg.worker_class_str`` is gunicorn's own resolution: ``sync`` with ``threads > 1``
    runs the ``gthread`` worker.
    """
    cfg = server.cfg
    settings.publish({
        "server": "gunicorn",
        "version": gunicorn.__version__,
        "worker_class": cfg.worker_class_str,
        "workers": cfg.workers,
        "threads": cfg.threads,
        "worker_connections": cfg.worker_connections,
        "preload_app": cfg.preload_app,
        # The arbiter: it runs this hook; the workers it forks serve the requests.
        "master_pid": os.getpid(),
    })
    agent.start()
