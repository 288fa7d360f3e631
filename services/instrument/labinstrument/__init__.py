"""The lab's in-container instrument: it wraps any WSGI application and measures it.

The application is named by ``module:attribute`` in ``LAB_APP`` (``labinstrument.wsgi``);
nothing here knows which application it is. Every server is pointed at
``labinstrument.wsgi:app``, which loads it and wraps it with:

- ``middleware``: the container-wide count of requests in flight (``inflight``), reported
  on every response (``X-Inflight``) with the time spent in the app (``Server-Timing``);
- ``health``: the lab's health and facts endpoint, under the reserved prefix ``/_lab/``
  (``HEALTH_PATH``), answered before the app sees the request: the count, the server's
  resolved settings (``settings``, published by the ``launchers`` and ``gunicorn_conf``),
  what the container allows (``container``), and per process the interpreter, the GIL and
  the event loop that patched it, read after the app was imported (``runtime``);
- ``blocking``: gevent's own monitor thread, where gevent runs, reporting what blocked the
  hub and where.
"""
