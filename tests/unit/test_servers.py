"""Each server family: one declared module, its settings from a command, its model, its
knobs, its command and the command a user pastes."""

import sys
from pathlib import Path

import pytest

from support import ROOT
from wsgilab import families as servers
from wsgilab.model.theory import UnknownServer

GUNICORN = {"server": "gunicorn", "workers": 4, "threads": 1, "worker_connections": 1000}


def test_every_family_declares_its_interface():
    assert {"werkzeug", "gunicorn", "uwsgi", "waitress", "granian"} == servers.servers()
    for name, family in servers.registry().items():
        module = sys.modules[family.command.__module__]
        assert family.name == name and family.title and family.reported_by, name
        assert family.knobs and all(k.low <= k.high and k.meaning for k in family.knobs), name
        assert module.__doc__ and family.requirements, f"{name}: no docstring or requirements"
        lock = ROOT / "services" / "servers" / "requirements" / f"{family.requirements}.lock"
        assert family.server in lock.read_text() or family.server == "uwsgi", (
            f"{name}: its server is not pinned in {lock.name}")
        if family.launcher:
            path = ROOT / "services" / "instrument" / Path(*family.launcher.split("."))
            assert path.with_suffix(".py").exists(), f"{name}: no launcher {family.launcher}"


def test_every_family_s_command_is_read_back_as_its_own_at_its_knobs():
    for name, family in servers.registry().items():
        knobs = {k.name: min(k.high, max(k.low, 2)) for k in family.knobs}
        settings = servers.declared(list(family.command(knobs)))
        assert servers.of(settings) is family, f"{name}: its command reads as {servers.of(settings).name}"
        back = family.knobs_of(settings)
        assert all(back[k] == v for k, v in knobs.items() if k in back), (name, knobs, back)
        assert servers.paste_command(list(family.command(knobs)), "shop.wsgi:app") == \
            family.paste(back, "shop.wsgi:app"), name


def test_every_configuration_of_the_lab_is_exactly_one_family_s(fake_compose):
    for name in fake_compose.configurations():
        command = fake_compose.config()["services"][name]["command"]
        settings = servers.declared(command)
        matching = [f.name for f in servers.registry().values()
                    if f.server == settings["server"] and f.matches(settings)]
        assert len(matching) == 1, f"{name}: families {matching} for {settings}"


def test_a_knob_outside_its_bounds_is_refused():
    gthread = servers.get("gunicorn-gthread")
    with pytest.raises(ValueError, match="threads must be 1..128"):
        gthread.command({"workers": 1, "threads": 0})


def test_the_pasted_command_is_the_server_s_own():
    assert servers.get("gunicorn-gthread").paste({"workers": 1, "threads": 8}, "shop.wsgi:app") == \
        "gunicorn --workers 1 --threads 8 shop.wsgi:app"
    assert servers.get("waitress").paste({"threads": 8}, "a:b").startswith("waitress-serve --threads 8")
    assert servers.get("granian").paste({"workers": 1, "blocking_threads": 8}, "a:b").startswith(
        "granian --interface wsgi")
    assert "--module a:b" in servers.get("uwsgi-threads").paste({"processes": 1, "threads": 4}, "a:b")


@pytest.mark.parametrize("settings, limit, parallelism, event_loop", [
    ({"server": "werkzeug", "threaded": False, "processes": 1}, 1, 1, False),
    ({"server": "werkzeug", "threaded": False, "processes": 3}, 3, 3, False),
    ({"server": "werkzeug", "threaded": True, "processes": 1}, None, 1, False),
    ({**GUNICORN, "worker_class": "sync"}, 4, 4, False),
    ({**GUNICORN, "worker_class": "gthread", "workers": 2, "threads": 4}, 8, 2, False),
    ({**GUNICORN, "worker_class": "gevent"}, 4000, 4, True),
    ({**GUNICORN, "worker_class": "eventlet", "worker_connections": 50}, 200, 4, True),
    ({"server": "uwsgi", "processes": 4, "threads": 1, "gevent": 0}, 4, 4, False),
    ({"server": "uwsgi", "processes": 2, "threads": 4, "gevent": 0}, 8, 2, False),
    ({"server": "uwsgi", "processes": 1, "threads": 1, "gevent": 16}, 16, 1, True),
    ({"server": "waitress", "threads": 4, "connection_limit": 100}, 4, 1, False),
    ({"server": "granian", "workers": 1, "blocking_threads": 8, "backpressure": 1024}, 8, 1, False),
    ({"server": "granian", "workers": 2, "blocking_threads": 512, "backpressure": 16}, 32, 2, False),
])
def test_model_follows_the_settings(settings, limit, parallelism, event_loop):
    cap = servers.model(settings)
    assert (cap.limit, cap.parallelism, cap.event_loop) == (limit, parallelism, event_loop)


@pytest.mark.parametrize("settings", [
    {**GUNICORN, "worker_class": "tornado"},
    {"server": "uvicorn"},
    {},
])
def test_model_refuses_what_it_has_no_theory_for(settings):
    with pytest.raises(UnknownServer):
        servers.model(settings)


def test_gthread_with_several_workers_only_sustains_one_pool():
    cap = servers.model({**GUNICORN, "worker_class": "gthread", "workers": 2, "threads": 4})
    assert (cap.limit, cap.floor) == (8, 4)
    assert "#3433" in cap.sustained_rule
    one = servers.model({**GUNICORN, "worker_class": "gthread", "workers": 1, "threads": 8})
    assert (one.limit, one.floor) == (8, 8)


def test_gthread_with_worker_connections_at_its_threads_sustains_every_thread():
    cap = servers.model({**GUNICORN, "worker_class": "gthread", "workers": 2, "threads": 4,
                         "worker_connections": 4})
    assert (cap.limit, cap.floor) == (8, 8)


@pytest.mark.parametrize("command, expected", [
    (["gunicorn", "--workers", "2", "--threads", "4", "labinstrument.wsgi:app"],
     {"server": "gunicorn", "worker_class": "gthread", "workers": 2, "threads": 4,
      "worker_connections": 1000, "preload_app": False}),
    (["python3", "-m", "labinstrument.launchers.werkzeug", "--no-threaded", "--processes", "3"],
     {"server": "werkzeug", "threaded": False, "processes": 3}),
    (["uwsgi", "--http-socket", ":8000", "--master", "--processes", "2", "--threads", "4"],
     {"server": "uwsgi", "processes": 2, "threads": 4, "gevent": 0, "listen": 100}),
    (["python3", "-m", "labinstrument.launchers.waitress", "--threads", "6", "labinstrument.wsgi:app"],
     {"server": "waitress", "threads": 6, "connection_limit": 100, "backlog": 1024,
      "channel_timeout": 120, "asyncore_use_poll": False}),
    # granian's hidden defaults, resolved by granian: backpressure 1024, 512 threads.
    (["python3", "-m", "labinstrument.launchers.granian", "--interface", "wsgi", "labinstrument.wsgi:app"],
     {"server": "granian", "interface": "wsgi", "workers": 1, "blocking_threads": 512,
      "backpressure": 1024, "backlog": 1024}),
])
def test_declared_settings_come_from_the_servers_own_parser(command, expected):
    assert servers.declared(command) == expected


def test_a_command_no_family_knows_is_refused():
    with pytest.raises(UnknownServer, match="no server family recognises"):
        servers.declared(["hypercorn", "app:app"])


def test_every_compose_command_has_an_adapter(fake_compose):
    for name, svc in fake_compose.config()["services"].items():
        settings = servers.declared(svc["command"])
        assert servers.model(settings).formula, name


def test_granian_backpressure_below_its_threads_caps_in_connections():
    cap = servers.model({"server": "granian", "workers": 1, "blocking_threads": 8,
                         "backpressure": 4})
    assert cap.limit == 4 and "backpressure" in cap.formula
