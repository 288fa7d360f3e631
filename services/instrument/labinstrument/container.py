"""What the container lets this process use: CPU counts, CFS quota, memory and pids limits.

Sizing rules people follow read one of these numbers, and they disagree inside a container:

- ``os.cpu_count()`` is the host's CPU count; it ignores both the cpuset and the CFS quota
  (Python docs, ``os.cpu_count``; CPython issue #149452, open);
- ``os.sched_getaffinity(0)`` follows the cpuset (the cores the container may run on);
- the CFS quota is read from cgroup v2 ``cpu.max`` ("max 100000" or "50000 100000"), or
  cgroup v1 ``cpu.cfs_quota_us`` (-1 = none) / ``cpu.cfs_period_us`` (kernel docs,
  ``Documentation/admin-guide/cgroup-v2.rst`` and ``scheduler/sched-bwc.rst``);
- the memory limit from cgroup v2 ``memory.max`` or v1 ``memory.limit_in_bytes``; the pids
  limit from ``pids.max`` (both versions).

Inside a container the cgroup of the process is mounted at ``/sys/fs/cgroup`` (v2) or
``/sys/fs/cgroup/<controller>`` (v1).
"""

from __future__ import annotations

import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: cgroup v1 reports "no memory limit" as a huge number (PAGE_COUNTER_MAX pages).
_V1_NO_LIMIT = 1 << 60


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cfs_quota_cpus(root: Path = CGROUP_ROOT) -> float | None:
    """The CPU quota in CPUs (quota / period), or None when there is none or no cgroup."""
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        return None if quota == "max" else int(quota) / int(period or 100_000)
    quota = _read(root / "cpu" / "cpu.cfs_quota_us")
    period = _read(root / "cpu" / "cpu.cfs_period_us")
    if quota is None or period is None or int(quota) < 0:
        return None
    return int(quota) / int(period)


def memory_limit_bytes(root: Path = CGROUP_ROOT) -> int | None:
    """The cgroup's memory limit in bytes, or None when unlimited or unknown."""
    v2 = _read(root / "memory.max")
    if v2 is not None:
        return None if v2 == "max" else int(v2)
    v1 = _read(root / "memory" / "memory.limit_in_bytes")
    if v1 is None or int(v1) >= _V1_NO_LIMIT:
        return None
    return int(v1)


def pids_limit(root: Path = CGROUP_ROOT) -> int | None:
    """The cgroup's pids limit (tasks: processes and threads), or None when unlimited."""
    raw = _read(root / "pids.max") or _read(root / "pids" / "pids.max")
    return None if raw in (None, "max") else int(raw)


def memory_events(root: Path = CGROUP_ROOT) -> dict:
    """What the kernel counts of this cgroup's memory: ``oom_kill`` (processes it killed
    for memory), ``max`` (times usage hit the limit) and ``peak_bytes`` (the most memory
    the cgroup has held). cgroup v2: ``memory.events``, ``memory.peak`` (Linux 5.19);
    v1: ``memory.oom_control``'s ``oom_kill`` (Linux 4.13), ``memory.failcnt``,
    ``memory.max_usage_in_bytes``. {} where none is available."""
    found: dict = {}
    v2 = _read(root / "memory.events")
    v1 = root / "memory"
    events = v2 if v2 is not None else _read(v1 / "memory.oom_control")
    for line in (events or "").splitlines():
        key, _, value = line.partition(" ")
        if key in ("oom_kill", "max") and value.isdigit():
            found[key] = int(value)
    if v2 is None:
        failures = _read(v1 / "memory.failcnt")
        if failures is not None and failures.isdigit():
            found["max"] = int(failures)
    peak = _read(root / "memory.peak") if v2 is not None else _read(v1 / "memory.max_usage_in_bytes")
    if peak is not None and peak.isdigit():
        found["peak_bytes"] = int(peak)
    return found


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def _field(text: str | None, key: str) -> int | None:
    """The value of ``key`` in a flat-keyed file (``cpu.stat``: ``nr_throttled 3``)."""
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return _number(value.strip())
    return None


def counters(root: Path = CGROUP_ROOT) -> dict:
    """The cgroup's own counters now, as a container engine's statistics report them
    (Docker's stats API reads the same files; cAdvisor names them
    ``container_cpu_usage_seconds_total``, ``container_cpu_cfs_throttled_periods_total``,
    ``container_memory_usage_bytes``, ``container_memory_max_usage_bytes``,
    ``container_processes``).

    Returns:
        ``{"cpu_ns": int, "throttled_periods": int, "memory_bytes": int,
        "memory_max_bytes": int, "pids": int}``: CPU time used by every process the
        cgroup ever held, nanoseconds (v2 ``cpu.stat`` usage_usec x 1000; v1
        ``cpuacct.usage``); CFS periods in which the quota stopped it (``nr_throttled``);
        memory in use, page cache included (v2 ``memory.current``; v1
        ``memory.usage_in_bytes``) and the most it used (v2 ``memory.peak``, Linux 5.19;
        v1 ``memory.max_usage_in_bytes``); tasks, threads included (``pids.current``). A
        counter the kernel does not offer reads 0.
    """
    v2 = _read(root / "cpu.stat")
    if v2 is not None:
        usage_us = _field(v2, "usage_usec")
        found = {"cpu_ns": usage_us * 1000 if usage_us is not None else None,
                 "throttled_periods": _field(v2, "nr_throttled"),
                 "memory_bytes": _number(_read(root / "memory.current")),
                 "memory_max_bytes": _number(_read(root / "memory.peak")),
                 "pids": _number(_read(root / "pids.current"))}
    else:
        found = {"cpu_ns": _number(_read(root / "cpuacct" / "cpuacct.usage")),
                 "throttled_periods": _field(_read(root / "cpu" / "cpu.stat"), "nr_throttled"),
                 "memory_bytes": _number(_read(root / "memory" / "memory.usage_in_bytes")),
                 "memory_max_bytes": _number(_read(root / "memory" / "memory.max_usage_in_bytes")),
                 "pids": _number(_read(root / "pids" / "pids.current"))}
    return {key: value or 0 for key, value in found.items()}


def facts(root: Path = CGROUP_ROOT) -> dict:
    """Everything a sizing rule might read, as this process sees it.

    Returns:
        ``{"os_cpu_count": int, "affinity_cpus": int, "cfs_quota_cpus": float | None,
        "memory_limit_bytes": int | None, "pids_limit": int | None, "memory_events":
        dict}`` (``memory_events``).
    """
    return {
        "os_cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)),
        "cfs_quota_cpus": cfs_quota_cpus(root),
        "memory_limit_bytes": memory_limit_bytes(root),
        "pids_limit": pids_limit(root),
        "memory_events": memory_events(root),
    }
