"""A user's own limits (`make bench LIMITS=...`): applied to what the run measures, read
back from the running container, recorded, and put back as declared afterwards."""

from __future__ import annotations

import time

from support import ROOT, container
from wsgilab.lab import compose
from wsgilab.model.facts import applied_limits
from wsgilab.model.levels import memory_bytes
from wsgilab.studies import bench, options

SERVICE = "gunicorn-sync"
LIMITS = "cpus=0.5,memory=384M,pids=128"


def test_a_run_with_its_own_limits(lab):
    results = ROOT / "results" / f"test-limits-{time.strftime('%Y%m%d-%H%M%S')}"
    opts = options.parse(["--services", SERVICE, "--workloads", "io", "--vus", "4",
                          "--duration", "4", "--warmup", "1", "--no-raw",
                          "--limits", LIMITS, "--results", str(results)])
    record = bench.run(opts, out=lambda line: None)
    (entry,) = record.levels
    applied = entry.configuration.limits
    assert (applied.cpus, applied.memory_bytes, applied.pids) == (0.5, memory_bytes("384M"), 128), (
        f"asked for {LIMITS}, the container ran with {applied}")
    seen = entry.configuration.container
    assert (seen["cfs_quota_cpus"], seen["pids_limit"]) == (0.5, 128), seen
    assert entry.passed, entry.problems
    assert record.options["limits"]["memory"] == "384M"
    after = applied_limits(container(SERVICE).attrs["HostConfig"])
    assert after == compose.declared_limits(SERVICE), (
        f"{SERVICE} was not put back as declared: {after}")
