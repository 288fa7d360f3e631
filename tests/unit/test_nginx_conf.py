"""nginx must never be what caps a bench: its connections are sized for MAX_VUS."""

import re

from support import ROOT

from wsgilab.options import MAX_VUS

CONF = (ROOT / "services" / "nginx" / "nginx.conf").read_text()
#: Connections nginx needs besides the load: health checks, the bench's probes.
SPARE_CONNECTIONS = 16


def _directive(name):
    found = re.findall(rf"^\s*{name}\s+(\S+);", CONF, re.M)
    assert len(found) == 1, f"expected one {name} directive, found {found}"
    return found[0]


def test_worker_connections_cover_the_largest_bench():
    workers = int(_directive("worker_processes"))
    per_worker = int(_directive("worker_connections"))
    needed = 2 * MAX_VUS + SPARE_CONNECTIONS  # client side + upstream side per request
    assert workers * per_worker >= needed, (
        f"nginx holds {workers} x {per_worker} connections, the bench may need {needed}")


def test_upstream_timeout_outlasts_the_longest_request():
    from labapp.app import MAX_SLOW_SECONDS
    timeout = int(_directive("proxy_read_timeout").rstrip("s"))
    assert timeout > MAX_SLOW_SECONDS


def test_no_version_banner():
    assert _directive("server_tokens") == "off"
