"""The lab's own clients inside its networks (labinstrument.clients): bounded, reaching
only a lab name on the lab's ports, and measuring what they say against a real server on
loopback."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from labinstrument import clients
from labinstrument.errors import BadRequest


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the servers measured

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_address[1]
    monkeypatch.setattr(clients, "PORTS", (port,))
    monkeypatch.setattr(clients, "BETWEEN_S", 0.0)
    yield {"host": "localhost", "port": str(port), "path": "/io?ms=1", "probe_s": "2"}
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("change, message", [
    ({"host": "10.0.0.1"}, "host must be a lab service"),
    ({"host": "example.com"}, "host must be a lab service"),
    ({"port": "22"}, "port must be one of"),
    ({"path": "io"}, "path must start with /"),
    ({"path": "/a b"}, "path must start with /"),
    ({"probe_s": "60"}, "probe_s must be"),
    ({"probe_s": "x"}, "probe_s must be"),
    ({"counts": "1,65"}, "counts must be"),
    ({"counts": ",".join(["1"] * 9)}, "counts must be"),
    ({"counts": ""}, "counts must be"),
])
def test_a_client_reaches_only_lab_names_within_its_bounds(server, change, message):
    with pytest.raises(BadRequest, match=message):
        clients.silent({**server, "counts": "1", **change})


def test_a_threaded_server_answers_through_held_silent_connections(server):
    steps = clients.silent({**server, "counts": "1,4"})["steps"]
    assert [s["clients"] for s in steps] == [1, 4] and all(s["served"] for s in steps), steps


def test_idle_keepalive_connections_and_a_new_request(server):
    answer = clients.keepalive({**server, "idle": "3"})
    assert answer["served"] and answer["seconds"] < 2, answer
    with pytest.raises(BadRequest, match="idle must be"):
        clients.keepalive({**server, "idle": "0"})
