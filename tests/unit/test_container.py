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


@pytest.mark.parametrize("files, expected", [
    ({"cpu.stat": "usage_usec 2500000\nuser_usec 2000000\nnr_periods 40\nnr_throttled 7\n"
                  "throttled_usec 1200", "memory.current": "104857600",
      "memory.peak": "125829120", "pids.current": "9"},
     {"cpu_ns": 2_500_000_000, "throttled_periods": 7, "memory_bytes": 104857600,
      "memory_max_bytes": 125829120, "pids": 9}),
    ({"cpuacct/cpuacct.usage": "42547491", "cpu/cpu.stat": "nr_periods 3\nnr_throttled 2\n"
                                                            "throttled_time 900",
      "memory/memory.usage_in_bytes": "3596288", "memory/memory.max_usage_in_bytes": "3895296",
      "pids/pids.current": "2"},
     {"cpu_ns": 42547491, "throttled_periods": 2, "memory_bytes": 3596288,
      "memory_max_bytes": 3895296, "pids": 2}),
    # cgroup v2 before Linux 5.19 has no memory.peak: it reads 0, not an error.
    ({"cpu.stat": "usage_usec 10\nnr_throttled 0", "memory.current": "4096", "pids.current": "1"},
     {"cpu_ns": 10_000, "throttled_periods": 0, "memory_bytes": 4096, "memory_max_bytes": 0,
      "pids": 1}),
])
def test_counters_from_cgroup_v2_and_v1(tmp_path, files, expected):
    assert container.counters(_tree(tmp_path, files)) == expected
