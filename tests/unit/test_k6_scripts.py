"""Every workload's k6 script refuses bad parameters in its init phase, before sending.

`k6 inspect` evaluates a script's init code (options, parameter checks) and sends no
request, so these tests need neither the lab nor a network.
"""

import json
import subprocess
from pathlib import Path

import pytest

from wsgilab import workloads
from wsgilab.lab.k6 import SCRIPTS, env_flags, k6_binary

COMMON = {"SERVICE": "gunicorn-sync", "VUS": "4", "DURATION_S": "5", "WARMUP_S": "1",
          "SUMMARY_PATH": "/tmp/unused.json"}


#: A request mix for the `mix` workload, whose file its runner writes (wsgilab.studies.advise).
MIX = Path(__file__).parent / "data" / "mix.json"
GIVEN = {"MIX_FILE": str(MIX)}


def _good(workload):
    return {**COMMON, **{p.env: GIVEN.get(p.env, str(p.default)) for p in workload.params}}


def inspect(script, params):
    return subprocess.run([k6_binary(), "inspect", *env_flags(params), str(SCRIPTS / script)],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", list(workloads.registry()))
def test_good_parameters_give_closed_model_scenarios(name):
    workload = workloads.get(name)
    proc = inspect(workload.script, _good(workload))
    assert proc.returncode == 0, proc.stderr
    scenarios = json.loads(proc.stdout)["scenarios"]
    assert scenarios and all(s["executor"] == "constant-vus" for s in scenarios.values())
    assert sum(s["vus"] for s in scenarios.values()) == 4
    assert all(s["duration"] == "5s" or s["duration"] == f"{5 * workload.phases}s"
               for s in scenarios.values())


@pytest.mark.parametrize("name", list(workloads.registry()))
@pytest.mark.parametrize("change, message", [
    ({"BASE_URL": "http://example.com:80"}, "BASE_URL must be http://127.0.0.1"),
    ({"BASE_URL": "http://127.0.0.1.nip.io:80"}, "BASE_URL must be http://127.0.0.1"),
    ({"SERVICE": "../etc"}, "SERVICE must name"),
    ({"VUS": "-1"}, "VUS must be a whole number"),
    ({"VUS": "0"}, "VUS must be in"),
    ({"WARMUP_S": "5"}, "must be shorter than DURATION_S"),
    ({"SUMMARY_PATH": ""}, "SUMMARY_PATH is required"),
])
def test_bad_common_parameters_stop_k6(name, change, message):
    workload = workloads.get(name)
    proc = inspect(workload.script, {**_good(workload), **change})
    assert proc.returncode != 0, f"{workload.script} accepted {change}"
    assert message in proc.stdout + proc.stderr


@pytest.mark.parametrize("name", list(workloads.registry()))
def test_every_declared_parameter_is_required_and_checked_by_the_script(name):
    workload = workloads.get(name)
    for param in workload.params:
        params = _good(workload)
        del params[param.env]
        proc = inspect(workload.script, params)
        assert proc.returncode != 0 and f"{param.env} is required" in proc.stdout + proc.stderr, (
            f"{workload.script} ran without {param.env}")
        if param.high is not None:
            proc = inspect(workload.script, {**_good(workload), param.env: str(param.high * 1000)})
            assert proc.returncode != 0, f"{workload.script} accepted {param.env}={param.high * 1000}"


def test_mixed_needs_io_vus_beside_its_cpu_vus():
    mixed = workloads.get("mixed")
    proc = inspect(mixed.script, {**_good(mixed), "CPU_VUS": "4"})
    assert proc.returncode != 0 and "CPU_VUS (4) must be fewer than VUS (4)" in proc.stdout + proc.stderr


@pytest.mark.parametrize("mix, message", [
    ("[]", "MIX_FILE must hold 1 to 50 requests"),
    ('[{"path": "products", "weight": 1}]', "path must start with /"),
    ('[{"path": "/a", "weight": 0}]', "weight must be above 0"),
])
def test_a_bad_mix_stops_k6(tmp_path, mix, message):
    path = tmp_path / "mix.json"
    path.write_text(mix)
    workload = workloads.get("mix")
    proc = inspect(workload.script, {**_good(workload), "MIX_FILE": str(path)})
    assert proc.returncode != 0, f"mix.js accepted {mix}"
    assert message in proc.stdout + proc.stderr
