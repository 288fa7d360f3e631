"""What capping a gthread worker's connections at its threads costs: keep-alive.

gunicorn keeps at most ``worker_connections - threads`` idle keep-alive connections per
gthread worker (``gthread.py``: ``max_keepalived``); at ``--worker-connections 4
--threads 4`` that is none, and gunicorn warns at start ("No keepalived connections can be
handled"). Measured from inside each container (its own 127.0.0.1), by sending requests
one after another on one HTTP/1.1 connection, as a keep-alive client or proxy pool would.
"""

from __future__ import annotations

import json

import pytest

from support import container

#: Requests sent on the one connection.
REQUESTS = 3
CLIENT = f"""
import http.client, json
c = http.client.HTTPConnection("127.0.0.1", 8000, timeout=10)
served, header = 0, None
for _ in range({REQUESTS}):
    try:
        c.request("GET", "/io?ms=1")
        r = c.getresponse()
        r.read()
    except (http.client.HTTPException, OSError):
        break
    served += 1
    header = r.getheader("Connection")
    if (header or "").lower() == "close":
        break
print(json.dumps({{"served": served, "connection": header}}))
"""


def requests_per_connection(service: str) -> dict:
    result = container(service).exec_run(["python3", "-c", CLIENT], user="10001")
    assert result.exit_code == 0, f"{service}: the client failed: {result.output.decode()}"
    return json.loads(result.output.decode().strip().splitlines()[-1])


@pytest.mark.parametrize("configuration, served", [
    ("gunicorn-gthread", REQUESTS),   # 2 x 4, worker_connections 1000: 996 keep-alive slots
    ("gunicorn-gthread-wc", 1),       # worker_connections = threads: none
])
def test_worker_connections_at_threads_gives_up_keepalive(lab, configuration, served):
    seen = requests_per_connection(configuration)
    assert seen["served"] == served, (
        f"{configuration}: expected {served} of {REQUESTS} requests served on one keep-alive "
        f"connection, measured {seen['served']} (Connection: {seen['connection']})")
