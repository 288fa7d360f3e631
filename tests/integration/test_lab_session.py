"""The lab session on the real engine: a bench stopped by SIGTERM in the middle of a
variant level leaves every container as declared, and a cpuset changed by hand is put back
by the next start, which says so."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

from support import ROOT, container
from wsgilab.lab import compose
from wsgilab.lab.engine import DockerEngine
from wsgilab.lab.session import LabSession

#: Seconds the interrupted bench may take to start its variant level, and to stop after
#: the signal (putting every container back included).
START_TIMEOUT_S = 240
STOP_TIMEOUT_S = 180
#: A configuration the cpu workload recreates under variants, and a level of its plan that
#: runs under one (``cpus=1, cpuset=0-1``: the others are moved off its cores meanwhile).
SERVICE = "gunicorn-sync"
VARIANT_LEVEL = "[ 2/"


def _drift() -> dict:
    return LabSession(DockerEngine(), out=lambda line: None).drift()


def test_sigterm_mid_level_leaves_the_lab_as_declared(lab, tmp_path):
    results = tmp_path / "interrupted"
    bench = subprocess.Popen(
        [sys.executable, "-m", "wsgilab", "bench", "--workloads", "cpu", "--services", SERVICE,
         "--duration", "10", "--warmup", "1", "--no-raw", "--results", str(results)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = []
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([bench.stdout], [], [], 1.0)
            line = bench.stdout.readline() if ready else ""
            seen.append(line)
            if VARIANT_LEVEL in line:
                break
            if bench.poll() is not None:
                break
        assert any(VARIANT_LEVEL in line for line in seen), (
            "the bench never reached its variant level:\n" + "".join(seen[-30:]))
        time.sleep(4.0)  # inside the level: k6 sending, the others moved off its cores
        moved = [s for s, d in _drift().items() if "cpuset" in d]
        bench.send_signal(signal.SIGTERM)
        rest, _ = bench.communicate(timeout=STOP_TIMEOUT_S)
    finally:
        if bench.poll() is None:
            bench.kill()
    output = "".join(seen) + rest
    assert moved, f"expected the other configurations moved off the measured cores mid-level:\n{output}"
    assert bench.returncode == 128 + signal.SIGTERM, (
        f"expected exit {128 + signal.SIGTERM} after SIGTERM, got {bench.returncode}:\n{output}")
    left = _drift()
    assert left == {}, f"expected every container as declared after SIGTERM, found {left}\n{output}"
    record = json.loads((results / "bench.json").read_text())
    assert record["status"] == "interrupted (stopped by SIGTERM)", record["status"]
    assert record["levels"], "the levels gathered before the signal were not kept"
    assert any("back as declared" in line for line in record["environment"]["restored"]), (
        record["environment"]["restored"])


def test_a_cpuset_changed_by_hand_is_put_back_at_the_next_start(lab):
    service = "waitress"
    declared = compose.declared_limits(service).cpuset
    elsewhere = "0" if declared != "0" else "1"
    container(service).update(cpuset_cpus=elsewhere)
    up = subprocess.run([sys.executable, "-m", "wsgilab", "up"], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stdout + up.stderr
    said = f"{service}: cpuset '{elsewhere}' instead of '{declared}'; put back as declared"
    assert said in up.stdout, f"expected the start to say {said!r}; it printed:\n{up.stdout}"
    now = container(service).attrs["HostConfig"]["CpusetCpus"]
    assert now == declared, f"expected {service} back on cpuset {declared}, found {now}"
