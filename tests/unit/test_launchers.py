"""The two launchers publish the settings the theory reads, resolved as the servers do."""

import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest
from support import gunicorn_config

from labapp import devserver, settings


@pytest.mark.parametrize("argv, expected", [
    (["--workers", "4"], {"worker_class": "sync", "workers": 4, "threads": 1}),
    (["--workers", "2", "--threads", "4"], {"worker_class": "gthread", "workers": 2, "threads": 4}),
    (["--workers", "4", "--worker-class", "gevent"], {"worker_class": "gevent", "workers": 4}),
])
def test_gunicorn_conf_publishes_resolved_settings(monkeypatch, argv, expected):
    monkeypatch.delenv(settings.SETTINGS_ENV, raising=False)
    conf = runpy.run_path(str(Path("services/app/gunicorn.conf.py")))
    conf["on_starting"](SimpleNamespace(cfg=gunicorn_config(argv + ["labapp.wsgi:app"])))
    published = settings.current()
    assert published["server"] == "gunicorn"
    assert published["worker_connections"] == 1000
    assert {k: published[k] for k in expected} == expected


def test_gunicorn_conf_keeps_the_container_read_only_friendly():
    conf = runpy.run_path(str(Path("services/app/gunicorn.conf.py")))
    assert conf["worker_tmp_dir"] == "/dev/shm"
    assert conf["control_socket_disable"] is True


def test_devserver_flags_mirror_app_run():
    p = devserver.build_parser()
    assert p.parse_args([]).threaded is True  # Flask's default since 1.0
    args = p.parse_args(["--no-threaded", "--processes", "3"])
    assert (args.threaded, args.processes) == (False, 3)


@pytest.mark.parametrize("argv", [["--threaded", "--processes", "2"], ["--processes", "0"]])
def test_devserver_refuses_what_werkzeug_refuses(argv):
    with pytest.raises(SystemExit):
        devserver.main(argv)
