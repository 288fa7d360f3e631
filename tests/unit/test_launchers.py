"""The launchers publish the settings the adapters read, resolved as the servers do."""

import runpy
from types import SimpleNamespace

import pytest

from labinstrument import settings
from labinstrument.launchers import werkzeug as werkzeug_launcher
from support import ROOT
from wsgilab.families import _gunicorn as gunicorn

GUNICORN_CONF = ROOT / "services" / "instrument" / "labinstrument" / "gunicorn_conf.py"


def _cfg(argv):
    """A gunicorn Config resolved from ``argv`` with gunicorn's own parser."""
    from gunicorn.config import Config

    cfg = Config()
    ns = cfg.parser().parse_args(argv + ["labinstrument.wsgi:app"])
    for key, value in vars(ns).items():
        if value is not None and key != "args":
            cfg.set(key.lower(), value)
    return cfg


@pytest.mark.parametrize("argv, expected", [
    (["--workers", "4"], {"worker_class": "sync", "workers": 4, "threads": 1}),
    (["--workers", "2", "--threads", "4"], {"worker_class": "gthread", "workers": 2, "threads": 4}),
    (["--workers", "4", "--worker-class", "gevent"], {"worker_class": "gevent", "workers": 4}),
    (["--workers", "1", "--preload"], {"preload_app": True}),
])
def test_gunicorn_conf_publishes_what_the_adapter_declares(monkeypatch, argv, expected):
    monkeypatch.delenv(settings.SETTINGS_ENV, raising=False)
    conf = runpy.run_path(str(GUNICORN_CONF))
    conf["on_starting"](SimpleNamespace(cfg=_cfg(argv)))
    published = settings.current()
    declared = gunicorn.declared(["gunicorn", *argv, "labinstrument.wsgi:app"])
    assert {k: published[k] for k in declared} == declared
    assert {k: published[k] for k in expected} == expected


def test_gunicorn_conf_keeps_the_container_read_only_friendly():
    conf = runpy.run_path(str(GUNICORN_CONF))
    assert conf["worker_tmp_dir"] == "/dev/shm"
    assert conf["control_socket_disable"] is True


def test_werkzeug_flags_mirror_app_run():
    p = werkzeug_launcher.build_parser()
    assert p.parse_args([]).threaded is True  # Flask's default since 1.0
    args = p.parse_args(["--no-threaded", "--processes", "3"])
    assert (args.threaded, args.processes) == (False, 3)


@pytest.mark.parametrize("argv", [["--threaded", "--processes", "2"], ["--processes", "0"]])
def test_werkzeug_launcher_refuses_what_werkzeug_refuses(argv):
    with pytest.raises(SystemExit):
        werkzeug_launcher.main(argv)
