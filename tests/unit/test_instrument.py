"""The instrument wraps any WSGI application: it loads what LAB_APP names, answers the lab's
own paths itself, records each process's runtime, and reads gevent's blocked-hub reports.
Nothing in it names the demo app."""

from __future__ import annotations

import ast
import json
import re

import pytest
import yaml
from werkzeug.test import Client

from labinstrument import blocking, health, loader, processes, runtime
from labinstrument.inflight import InflightCounter
from labinstrument.middleware import INFLIGHT_HEADER, InflightMiddleware
from support import ROOT
from wsgilab.lab import probe
from wsgilab.model import app as declaration

INSTRUMENT = ROOT / "services" / "instrument" / "labinstrument"


def hello(environ, start_response):
    """A WSGI application that is not the demo app's."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_PROCESSES_FILE", str(tmp_path / "processes.json"))
    monkeypatch.setenv("LAB_BLOCKED_FILE", str(tmp_path / "blocked.jsonl"))
    counter = InflightCounter(str(tmp_path / "inflight"))
    return Client(InflightMiddleware(hello, counter, app_facts=lambda: {"mine": 1}))


def test_any_wsgi_app_is_counted_and_timed(client):
    resp = client.get("/anything")
    assert resp.get_data() == b"hello" and resp.headers[INFLIGHT_HEADER] == "1"
    assert "app;dur=" in resp.headers["Server-Timing"]


def test_the_labs_health_answers_under_its_prefix_and_never_reaches_the_app(client):
    body = client.get(health.HEALTH_PATH).get_json()
    assert body["status"] == "ok" and body["app"] == {"mine": 1}
    assert set(body["runtime"]) == {"patched_by", "python", "gil_enabled"}
    assert client.post(health.HEALTH_PATH).status_code == 404


def test_the_engine_the_k6_library_and_the_instrument_name_one_health_path():
    assert probe.HEALTH_PATH == health.HEALTH_PATH
    lab_js = (ROOT / "k6" / "lib" / "lab.js").read_text()
    assert f"HEALTH_PATH = '{health.HEALTH_PATH}'" in lab_js
    for path in [ROOT / "compose" / "app.yml", ROOT / "docker-compose.yml"]:
        assert "/healthz" not in yaml.safe_load(path.read_text())["services"].get("app", {}).get(
            "healthcheck", {}).get("test", [""])[-1]


def test_nothing_in_the_instrument_names_the_demo_app():
    for path in sorted(INSTRUMENT.rglob("*.py")):
        assert "labapp" not in path.read_text(), f"{path.relative_to(ROOT)} names the demo app"


def test_the_declarations_reserved_names_are_the_instruments_variables():
    found = set()
    for path in sorted(INSTRUMENT.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                    and any(t.id.endswith("_ENV") for t in node.targets if isinstance(t, ast.Name))):
                found.add(node.value.value)
    assert found == declaration.RESERVED_ENV


def test_the_demo_apps_environment_is_declared_once():
    """compose/app.yml serves the demo app with the environment its lab-app.toml declares
    (plus the instrument's own variables and the memory scenario's switch)."""
    spec = declaration.load(ROOT / "services" / "app")
    env = yaml.safe_load((ROOT / "compose" / "app.yml").read_text())["services"]["app"]["environment"]
    assert env["LAB_APP"] == spec.entry
    own = {k: str(v) for k, v in env.items() if k not in declaration.RESERVED_ENV
           and k != "LAB_ALLOW_ALLOC"}
    assert own == spec.environment


def test_a_missing_or_broken_entry_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(loader.APP_ENV, "no module at all")
    with pytest.raises(loader.LoadError, match="module:attribute"):
        loader.spec_from_env()
    with pytest.raises(loader.LoadError, match="no attribute 'nope'"):
        loader.load("json:nope")
    with pytest.raises(loader.LoadError, match="not callable"):
        loader.load("json:__doc__")
    with pytest.raises(ModuleNotFoundError):
        loader.load("no_such_module_here:app")


def test_each_process_records_its_facts_and_dead_ones_drop_out(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_PROCESSES_FILE", str(tmp_path / "p.json"))
    (tmp_path / "p.json").write_text(json.dumps({"999999": {"gil_enabled": True}}))
    processes.record({"gil_enabled": runtime.gil_enabled(), "python": runtime.python()})
    found = processes.read()
    assert list(found) == [str(__import__("os").getpid())]
    assert found[next(iter(found))]["python"]["implementation"] == "CPython"


GEVENT_REPORT = [
    "2026-12-02T08:24:54Z : Greenlet <Greenlet at 0x7f: handler> appears to be blocked\n",
    "    Reported by <gevent._gevent_c_tracer.GreenletTracer object at 0x7f>\n",
    "Blocked Stack (for thread id 0x7fd2c1e14b80):\n"
    '  File "/srv/app/shop/app.py", line 14, in handler\n    slow_query()\n'
    '  File "/srv/app/shop/db.py", line 12, in slow_query\n    libc.usleep(400000)\n',
    "\n",
    "Info:\n",
    '  File "/opt/venv/lib/python3.11/site-packages/gevent/_monitor.py", line 206, in __call__\n',
]


def test_gevents_report_names_the_function_that_blocked():
    frames = blocking.blocked_frames(GEVENT_REPORT)
    assert [f["function"] for f in frames] == ["handler", "slow_query"]
    assert frames[-1] == {"file": "/srv/app/shop/db.py", "line": 12, "function": "slow_query"}


def test_gevent_monitor_subscription_needs_gevent_and_its_monitor():
    import sys

    if "gevent" in sys.modules:  # another test imported it: the monitor is off here anyway
        import gevent

        assert gevent.config.monitor_thread is False
    assert blocking.watch() is False


def test_the_instruments_health_path_is_what_nginx_proxies_and_the_compose_probes_use():
    app_yml = (ROOT / "compose" / "app.yml").read_text()
    assert re.search(rf"GET {re.escape(health.HEALTH_PATH)} HTTP/1.0", app_yml)
