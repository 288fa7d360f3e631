"""The lab's agent (labinstrument.agent): its routes answer JSON over HTTP on loopback, bad
input is a JSON 400, anything else a JSON 404 or 405, and its port is the one the lab and
the front end use."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from labinstrument import agent, clients, postgres
from labinstrument.errors import BadRequest
from wsgilab.lab import probe
from wsgilab.workloads import db

CONF = (Path(__file__).parents[2] / "services" / "nginx" / "nginx.conf").read_text()


def _route(query):
    if query.get("n") == "bad":
        raise BadRequest("n must be a whole number")
    if query.get("n") == "boom":
        raise RuntimeError("/secret/path/agent.py line 12")
    return {"n": query.get("n")}


@pytest.fixture
def served():
    httpd = agent.server({"/_lab/echo": _route, **agent.ROUTES}, port=0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _ask(url, method="GET"):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], json.loads(err.read() or b"{}")


def test_a_route_answers_json(served):
    assert _ask(f"{served}/_lab/echo?n=3") == (200, "application/json", {"n": "3"})


def test_the_cgroup_route_answers_the_counters_the_lab_reads(served):
    status, _, body = _ask(f"{served}{agent.CGROUP_PATH}")
    assert status == 200
    missing = set(probe.Snapshot.__dataclass_fields__) - set(body)
    assert not missing, f"the lab reads {sorted(missing)}, which the agent does not answer"


@pytest.mark.parametrize("path, method, status", [
    ("/_lab/echo?n=bad", "GET", 400),
    ("/_lab/nothing", "GET", 404),
    ("/_lab/echo", "POST", 405),
    ("/_lab/echo", "DELETE", 405),
    ("/_lab/echo?n=boom", "GET", 500),
])
def test_bad_input_is_a_json_error_that_reveals_nothing_internal(served, path, method, status):
    got, kind, body = _ask(f"{served}{path}", method)
    assert (got, kind) == (status, "application/json"), f"expected {status} JSON, got {got} {kind}"
    assert set(body) == {"error"} and "secret" not in body["error"] and ".py" not in body["error"]


@pytest.mark.parametrize("samples", ["", "0", "-1", "1201", "1e3", "ten"])
def test_the_database_sample_count_is_bounded(samples):
    with pytest.raises(BadRequest, match="samples must be a whole number"):
        postgres.active({"samples": samples})


def test_the_port_is_the_one_the_lab_and_the_front_end_use():
    ports = set(re.findall(r"proxy_pass http://\$lab_agent_host:(\d+)/", CONF))
    assert ports == {str(agent.PORT)} and probe.AGENT_PORT == agent.PORT, (
        f"agent {agent.PORT}, probe {probe.AGENT_PORT}, nginx {ports}")


def test_the_sampling_interval_is_the_one_the_workload_reads():
    assert db.SAMPLE_S == postgres.SAMPLE_S, (db.SAMPLE_S, postgres.SAMPLE_S)


def test_a_rate_is_over_the_agents_own_interval_not_the_answers_arrival():
    """Two snapshots read 2 s apart by the agent, the second answered 0.5 s late: 1.5 s of
    CPU is 0.75 CPUs, not 0.6 (over the 2.5 s between the answers)."""
    before = probe.Snapshot(cpu_ns=10**9, taken_ns=5 * 10**9)
    after = probe.Snapshot(cpu_ns=25 * 10**8, taken_ns=7 * 10**9)
    assert after.cpus_since(before, fallback_s=2.5) == pytest.approx(0.75)
    untimed = probe.Snapshot(cpu_ns=25 * 10**8)
    assert untimed.cpus_since(before, fallback_s=2.5) == pytest.approx(0.6)


def test_the_front_end_proxies_exactly_the_agents_routes():
    proxied = set(re.search(r"\(\?<lab_agent_route>([^)]*)\)", CONF).group(1).split("|"))
    served = {path.removeprefix("/_lab/")
              for path in {**agent.ROUTES, **postgres.ROUTES, **clients.ROUTES}}
    assert proxied == served, f"nginx proxies {sorted(proxied)}; the agents serve {sorted(served)}"
