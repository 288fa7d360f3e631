"""Reading what a container allows from cgroup files, v1 and v2 (fake trees)."""

import pytest

from labinstrument import container


def _tree(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return root


@pytest.mark.parametrize("files, quota, memory, pids", [
    ({"cpu.max": "50000 100000", "memory.max": "268435456", "pids.max": "256"},
     0.5, 268435456, 256),
    ({"cpu.max": "max 100000", "memory.max": "max", "pids.max": "max"}, None, None, None),
    ({"cpu/cpu.cfs_quota_us": "150000", "cpu/cpu.cfs_period_us": "100000",
      "memory/memory.limit_in_bytes": "536870912", "pids/pids.max": "128"},
     1.5, 536870912, 128),
    ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000",
      "memory/memory.limit_in_bytes": str(2**63 - 4096), "pids/pids.max": "max"},
     None, None, None),
])
def test_limits_from_cgroup_v2_and_v1(tmp_path, files, quota, memory, pids):
    root = _tree(tmp_path, files)
    assert container.cfs_quota_cpus(root) == quota
    assert container.memory_limit_bytes(root) == memory
    assert container.pids_limit(root) == pids


def test_no_cgroup_means_no_limit(tmp_path):
    facts = container.facts(tmp_path)
    assert (facts["cfs_quota_cpus"], facts["memory_limit_bytes"], facts["pids_limit"]) == (
        None, None, None)
    assert facts["affinity_cpus"] >= 1 and facts["os_cpu_count"] >= facts["affinity_cpus"]


@pytest.mark.parametrize("files, expected", [
    ({"memory.events": "low 0\nhigh 0\nmax 7\noom 1\noom_kill 2\noom_group_kill 0",
      "memory.peak": "104857600"}, {"oom_kill": 2, "max": 7, "peak_bytes": 104857600}),
    ({"memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 3",
      "memory/memory.failcnt": "5", "memory/memory.max_usage_in_bytes": "3821568"},
     {"oom_kill": 3, "max": 5, "peak_bytes": 3821568}),
    ({}, {}),
])
def test_memory_events_from_cgroup_v2_and_v1(tmp_path, files, expected):
    assert container.memory_events(_tree(tmp_path, files)) == expected
