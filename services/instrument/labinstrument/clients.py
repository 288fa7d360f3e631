"""The lab's own clients inside its networks, answered by the agent in the upstream
service's container (``labinstrument.agent --clients``): the fault scenarios' connections
that must reach a configuration without nginx in between, or hold connections open
through it. Each is bounded in count and time, and reaches only a lab name on the lab's
two ports (a configuration's 8000, the front end's 8080).

    GET /_lab/clients/silent?host=&port=&path=&counts=1,2,4&probe_s=3
    GET /_lab/clients/slow?...      N connections that send nothing (silent) or only the
                                    start of a request line (slow), then one ordinary
                                    request on a new connection, given probe_s to be
                                    answered; N grows through counts until it is not.
                                    {"steps": [{"clients", "served", "seconds"}, ...]}
    GET /_lab/clients/keepalive?host=&port=&path=&idle=4&probe_s=8
                                    idle HTTP/1.1 keep-alive connections (one request
                                    each), then one request on a new connection:
                                    {"served", "seconds"}
"""

from __future__ import annotations

import re
import socket
import time

from .errors import BadRequest

#: The names a client may reach: a lab service (its compose name), nothing else.
_HOST = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
#: The ports a client may reach: a configuration's, the front end's.
PORTS = (8000, 8080)
_PATH = re.compile(r"^/[A-Za-z0-9/_.?=&%-]{0,200}$")
#: The most connections a step may hold, steps a ramp may take, and seconds a probe may wait.
MAX_CLIENTS = 64
MAX_STEPS = 8
MAX_PROBE_S = 10.0
#: Seconds the held connections are given to reach the server before the probe, and
#: between two steps for the server to see them closed.
SETTLE_S = 0.3
BETWEEN_S = 1.0


def _target(query: dict[str, str]) -> tuple[str, int, str, float]:
    host, port, path = query.get("host", ""), query.get("port", ""), query.get("path", "")
    if not _HOST.match(host):
        raise BadRequest("host must be a lab service's name")
    if not port.isdigit() or int(port) not in PORTS:
        raise BadRequest(f"port must be one of {', '.join(map(str, PORTS))}")
    if not _PATH.match(path):
        raise BadRequest("path must start with / and hold at most 200 URL characters")
    try:
        probe_s = float(query.get("probe_s", "3"))
    except ValueError:
        raise BadRequest(f"probe_s must be a number of seconds up to {MAX_PROBE_S:g}") from None
    if not 0 < probe_s <= MAX_PROBE_S:
        raise BadRequest(f"probe_s must be a number of seconds up to {MAX_PROBE_S:g}")
    return host, int(port), path, probe_s


def _whole(query: dict[str, str], name: str, default: str, most: int) -> int:
    raw = query.get(name, default)
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise BadRequest(f"{name} must be a whole number 1..{most}")
    return int(raw)


def _probe(host: str, port: int, path: str, timeout_s: float) -> tuple[bool, float]:
    """One ordinary request on a new connection: (answered 200 within ``timeout_s``,
    seconds it took)."""
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n".encode())
            s.settimeout(max(0.1, timeout_s - (time.monotonic() - t0)))
            first = s.recv(32)
        return first.split(b" ")[1:2] == [b"200"], time.monotonic() - t0
    except OSError:
        return False, time.monotonic() - t0


def _ramp(query: dict[str, str], sends: bytes) -> dict:
    host, port, path, probe_s = _target(query)
    raw = query.get("counts", "").split(",")
    if not raw or len(raw) > MAX_STEPS or not all(c.isdigit() and 1 <= int(c) <= MAX_CLIENTS
                                                  for c in raw):
        raise BadRequest(f"counts must be up to {MAX_STEPS} whole numbers 1..{MAX_CLIENTS}, "
                         "comma-separated")
    steps = []
    for n in map(int, raw):
        held = []
        try:
            for _ in range(n):
                s = socket.create_connection((host, port), timeout=5)
                if sends:
                    s.sendall(sends)
                held.append(s)
            time.sleep(SETTLE_S)
            served, seconds = _probe(host, port, path, probe_s)
        finally:
            for s in held:
                s.close()
        steps.append({"clients": n, "served": served, "seconds": round(seconds, 2)})
        time.sleep(BETWEEN_S)
        if not served:
            break
    return {"steps": steps}


def silent(query: dict[str, str]) -> dict:
    """Connections that send nothing, then a probe (module docstring)."""
    return _ramp(query, b"")


def slow(query: dict[str, str]) -> dict:
    """Connections that send only ``GET /``, then a probe (module docstring)."""
    return _ramp(query, b"GET /")


def _request(s: socket.socket, path: str) -> None:
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: lab\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            raise OSError("closed before its answer")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")]
    length = int(lengths[0]) if lengths else 0
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            raise OSError("closed in its answer")
        body += chunk


def keepalive(query: dict[str, str]) -> dict:
    """Idle keep-alive connections, then one request on a new one (module docstring)."""
    host, port, path, probe_s = _target(query)
    idle_n = _whole(query, "idle", "4", MAX_CLIENTS)
    idle = []
    try:
        for _ in range(idle_n):
            s = socket.create_connection((host, port), timeout=10)
            idle.append(s)
            _request(s, path)
        t0 = time.monotonic()
        served = False
        try:
            with socket.create_connection((host, port), timeout=probe_s) as s:
                s.settimeout(probe_s)
                _request(s, path)
                served = True
        except OSError:
            pass
        return {"served": served, "seconds": round(time.monotonic() - t0, 2)}
    finally:
        for s in idle:
            s.close()


ROUTES = {"/_lab/clients/silent": silent, "/_lab/clients/slow": slow,
          "/_lab/clients/keepalive": keepalive}
