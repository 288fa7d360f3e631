"""What each container runs is what its compose file declares: command, limits, hardening."""

from __future__ import annotations

from support import container, health
from wsgilab import families as servers
from wsgilab.lab import compose
from wsgilab.model.facts import applied_limits


def test_server_runs_its_declared_command(lab, service):
    command = compose.config()["services"][service]["command"]
    declared = servers.declared(command)
    reported = health(service)["server"]
    family = servers.of(reported)
    assert {k: reported.get(k) for k in declared} == declared, (
        f"{service}: compose declares {command} -> {declared}; the server reports {reported} "
        f"({family.reported_by})")


def test_container_facts_match_its_limits(lab, service):
    """What the app sees inside (cgroup files) is what the engine applied."""
    seen = health(service)["container"]
    applied = applied_limits(container(service).attrs["HostConfig"])
    assert seen["cfs_quota_cpus"] == applied.cpus, (service, seen, applied)
    assert seen["affinity_cpus"] == applied.cpuset_cpus, (service, seen, applied)
    assert seen["memory_limit_bytes"] == applied.memory_bytes, (service, seen, applied)
    assert seen["pids_limit"] == applied.pids, (service, seen, applied)


def test_limits_are_declared_and_applied(lab):
    for name in sorted(compose.config()["services"]):
        declared = compose.declared_limits(name)
        for field in ("cpus", "cpuset", "memory_bytes", "memswap_bytes", "pids"):
            assert getattr(declared, field), f"{name}: no {field} limit declared"
        assert declared.memswap_bytes == declared.memory_bytes, (
            f"{name}: memory+swap {declared.memswap_bytes} B, expected no swap beyond "
            f"memory {declared.memory_bytes} B")
        applied = applied_limits(container(name).attrs["HostConfig"])
        assert applied == declared, f"{name}: declared {declared}, applied {applied}"


def test_containers_are_hardened(lab):
    for name in sorted(compose.config()["services"]):
        attrs = container(name).attrs
        host, cfg = attrs["HostConfig"], attrs["Config"]
        user = cfg.get("User") or "0"
        assert user.split(":")[0] not in ("", "0", "root"), f"{name}: runs as {user!r}, expected non-root"
        assert host["ReadonlyRootfs"], f"{name}: root filesystem is writable, expected read-only"
        assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd"), (
            f"{name}: capabilities dropped {host['CapDrop']}, added {host.get('CapAdd')}; "
            "expected all dropped, none added")
        assert "no-new-privileges:true" in (host.get("SecurityOpt") or []), (
            f"{name}: expected no-new-privileges, got {host.get('SecurityOpt')}")
        for port, bindings in (host.get("PortBindings") or {}).items():
            for binding in bindings:
                assert binding["HostIp"] == "127.0.0.1", (
                    f"{name}: {port} published on {binding['HostIp'] or 'every address'}, "
                    "expected 127.0.0.1 only")
        assert cfg.get("Healthcheck", {}).get("Test"), f"{name}: no healthcheck"
        assert attrs["State"]["Health"]["Status"] == "healthy", (
            f"{name}: health {attrs['State']['Health']['Status']}, expected healthy")
