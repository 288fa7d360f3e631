"""Bad bench options stop with a clear message before any load starts."""

import pytest

from wsgilab import options
from wsgilab.options import MAX_VUS, OptionError
from wsgilab.topology import Limits

SERVICES = ["flask-dev", "gunicorn-sync"]


@pytest.fixture(autouse=True)
def lab_model(monkeypatch):
    """A compose model with two configurations, pids limit 256; no Docker needed."""
    monkeypatch.setattr(options.compose, "configurations", lambda: SERVICES)
    monkeypatch.setattr(options, "declared_limits",
                        lambda service: Limits(1.0, "1", 2**28, 2**28, 256))


def test_defaults_run_every_configuration(tmp_path):
    opts = options.parse(["--results", str(tmp_path / "r")])
    assert opts.services == tuple(SERVICES)
    assert opts.vus == options.DEFAULT_VUS
    assert len(opts.levels()) == len(SERVICES) * len(options.DEFAULT_VUS)


@pytest.mark.parametrize("argv, message", [
    (["--services", "uwsgi"], "unknown configuration"),
    (["--services", "flask-dev,flask-dev"], "named twice"),
    (["--vus", "0"], "between 1 and"),
    (["--vus", f"{MAX_VUS + 1}"], "between 1 and"),
    (["--duration", "1"], "--duration"),
    (["--duration", "5", "--warmup", "5"], "--warmup"),
    (["--io-ms", "0"], "--io-ms"),
    (["--base-url", "http://10.0.0.1:8080"], "loopback"),
    (["--base-url", "http://localhost:8080"], "loopback"),
    (["--load-cpus", "999"], "--load-cpus"),
    (["--vus", "two"], "invalid command line"),
])
def test_bad_options_are_refused(argv, message, tmp_path):
    with pytest.raises(OptionError, match=message):
        options.parse(argv + ["--results", str(tmp_path / "r")])


def test_a_pids_limit_that_would_cap_threads_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(options, "declared_limits",
                        lambda service: Limits(1.0, "1", 2**28, 2**28, 64))
    with pytest.raises(OptionError, match="pids limit"):
        options.parse(["--vus", "40", "--results", str(tmp_path / "r")])


def test_existing_results_are_never_overwritten(tmp_path):
    (tmp_path / "bench.json").write_text("{}")
    with pytest.raises(OptionError, match="not empty"):
        options.parse(["--results", str(tmp_path)])


def test_graceful_stop_covers_a_full_queue_on_a_one_at_a_time_server(tmp_path):
    opts = options.parse(["--vus", "40", "--io-ms", "250", "--results", str(tmp_path / "r")])
    assert opts.graceful_stop_s >= 40 * 0.250
