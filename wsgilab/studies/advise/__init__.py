"""Your own app: the lab measures any WSGI application under your limits and recommends the
configuration to deploy.

- ``declaration``: the app's folder and its ``lab-app.toml`` (entry point, request mix or
  HAR file, objective, limits, backends, environment), read and checked before anything
  is built;
- ``images``: the app staged and built into each server family's image over the lab's
  base, its requirements installed over the servers' pins (a conflict stops the run,
  named);
- ``project``: the app's own compose project: its candidates, nginx, and the backends it
  asked for;
- ``candidates``: the configurations worth measuring under the user's limits, bounded and
  explained, with the popular sizing rules computed inside the user's container;
- ``diagnose``: what the measurements say went wrong (a blocked gevent hub, patching too
  late, errors only under threads, memory, requests past a timeout);
- ``recommend``: the configuration to deploy, why it beat the runner-up, and what the
  sizing rules' picks did;
- ``runner``: ``make advise``, through one lab session.
"""
