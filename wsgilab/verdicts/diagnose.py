"""What the measurements of an app say went wrong, each diagnosis with its evidence.

Read from the candidates' results (``runner``), never guessed:

- **something blocks the gevent hub**: gevent's own monitor thread reported a greenlet that
  kept the hub (the function named, from the blocked stack), and the gevent candidate's
  requests in flight stayed pinned near one per worker;
- **monkey-patching too late**: a worker patched by gevent that loaded the app before it
  was patched (``patched_before_app`` empty: ``--preload``), or gevent's own
  ``MonkeyPatchWarning`` in the container's log (an import before the patch);
- **errors only under threads or greenlets**: the same mix failed under a gthread, gevent,
  waitress or granian candidate and not under sync workers (thread-unsafe state);
- **memory**: a worker's memory times the workers against the limit, and the count where
  the kernel would kill; an OOM kill counted in a candidate's cgroup;
- **requests longer than the server's timeout**: a request's latency past gunicorn's
  ``--timeout`` (a sync worker is aborted there).
"""

from __future__ import annotations

from wsgilab import families
from wsgilab.model.levels import cpuset_cores
from wsgilab.model.sizing import MEMORY_BASE_MIB, MEMORY_HEADROOM, most_workers

#: A gevent candidate whose peak in flight stayed within this many requests of its worker
#: count is "pinned at one per worker" (a request is also between the hub and the app).
PINNED_SLACK = 1
#: At its capacity a candidate that used less than this share of its CPU quota was not
#: held back by its own CPU...
APP_CPU_SHARE = 0.9
#: ...and if the cores it ran on were this busy (every process on them: the app, the
#: database, the load side), with at least OTHERS_MIN_CPUS of it not the app's, the
#: machine was: the capacity is this host's, and on a host where the backends have their
#: own cores it would be higher.
HOST_BUSY_SHARE = 0.8
OTHERS_MIN_CPUS = 0.25


def _family(result: dict) -> families.Family:
    return families.get(result["candidate"]["family"])


def diagnose(results: list[dict], memory_limit_bytes: int, worker_mib: float,
             mix_labels: list[str], cpus: float | None = None) -> list[dict]:
    """Every diagnosis the results support: ``{"kind", "summary", "evidence"}``.

    Args:
        results: per candidate, as ``runner`` records them (``candidate``, ``settings``,
            ``closed`` figures, ``by_path`` (per request of the mix, by its index as text:
            ``failures``, ``latency_p99_ms``), ``blocked`` reports, ``processes``,
            ``log_warnings``, ``log_errors``, ``oom_kills``, ``memory_peak_bytes``,
            ``at_capacity``, ``limits``).
        memory_limit_bytes: the app's memory limit; worker_mib: one worker's memory.
        mix_labels: the mix's requests, in order (``GET /products``), for per-path names.
        cpus: the app's CPU quota (for the shared-host diagnosis), or None.
    """
    found = []
    for r in results:
        name = r["candidate"]["name"]
        blocked = r.get("blocked") or []
        if blocked:
            functions = sorted({b.get("function") or "?" for b in blocked})
            workers = (r.get("settings") or {}).get("workers", 1)
            peak = (r.get("closed") or {}).get("server_peak")
            pinned = peak is not None and peak <= workers + PINNED_SLACK
            found.append({"kind": "gevent hub blocked",
                          "summary": f"{name}: gevent's monitor saw the hub blocked {len(blocked)} "
                                     f"time(s) by {', '.join(functions)}"
                                     + (f"; in flight pinned at {peak} with {workers} worker(s)"
                                        if pinned else ""),
                          "evidence": blocked[-3:]})
        late = [pid for pid, p in (r.get("processes") or {}).items()
                if p.get("patched_by") == "gevent" and not p.get("patched_before_app")
                and pid != str((r.get("settings") or {}).get("master_pid"))]
        warnings = [w for w in r.get("log_warnings", []) if "MonkeyPatchWarning" in w]
        if late or warnings:
            found.append({"kind": "monkey-patching too late",
                          "summary": f"{name}: " + ("the app was imported before gevent patched "
                                                    f"{len(late)} worker(s) (--preload?)" if late
                                                    else "gevent warned that it patched after "
                                                         "an import"),
                          "evidence": warnings[:3] or late})
        if r.get("oom_kills"):
            found.append({"kind": "memory",
                          "summary": f"{name}: the kernel killed {r['oom_kills']} process(es) for "
                                     f"memory (limit {memory_limit_bytes / 2**20:.0f} MiB)",
                          "evidence": {"memory_peak_mib": (r.get("memory_peak_bytes") or 0) / 2**20}})
        timeout = _family(r).timeout_s(r.get("settings") or {})
        slow = {mix_labels[int(i)]: p["latency_p99_ms"] for i, p in (r.get("by_path") or {}).items()
                if timeout and (p.get("latency_p99_ms") or 0) > timeout * 1000}
        if slow:
            found.append({"kind": "requests past the timeout",
                          "summary": f"{name}: {', '.join(slow)} took longer than the server's "
                                     f"timeout ({timeout:g} s) at p99: it aborts the worker there",
                          "evidence": slow})
    sync = [r for r in results if not _family(r).process.shares_process
            and (r.get("closed") or {}).get("requests")]
    if sync and all(not (r.get("closed") or {}).get("failures") for r in sync):
        for r in results:
            failures = (r.get("closed") or {}).get("failures")
            if _family(r).process.shares_process and failures:
                by_path = {mix_labels[int(i)]: p["failures"] for i, p in (r.get("by_path") or {}).items()
                           if p.get("failures")}
                errors = r.get("log_errors") or []
                said = (f"; its log: {errors[0]['exception']}: {errors[0]['message'][:120]}"
                        if errors else "")
                found.append({"kind": "errors only under threads or greenlets",
                              "summary": f"{r['candidate']['name']}: {failures} request(s) failed "
                                         "where sync workers failed none: state shared between "
                                         "threads or greenlets, or a resource held per thread or "
                                         "greenlet (a database connection each) past its limit"
                                         + said,
                              "evidence": {"failures_by_path": by_path, "log_errors": errors}})
    shared = []
    for r in results:
        at = r.get("at_capacity") or {}
        cores = (r.get("limits") or {}).get("cpuset")
        host, app = at.get("host_busy_cpus"), at.get("app_cpus")
        if not (cpus and host is not None and app is not None and cores):
            continue
        size = len(cpuset_cores(cores))
        if (app < APP_CPU_SHARE * cpus and host >= HOST_BUSY_SHARE * size
                and host - app >= OTHERS_MIN_CPUS):
            shared.append((r["candidate"]["name"], app, host, size, at.get("backend_cpus") or {}))
    if shared:
        name, app, host, size, backends = max(shared, key=lambda s: s[2])
        used = ", ".join(f"{b} {v:.2f}" for b, v in backends.items() if v is not None)
        found.append({"kind": "the host, not the candidate",
                      "summary": f"at their capacity {len(shared)} candidate(s) used less than "
                                 f"{APP_CPU_SHARE:.0%} of their {cpus:g} CPU while the {size} "
                                 f"cores they ran on were {host / size:.0%} busy, "
                                 f"{host - app:.2f} CPU of it not theirs (e.g. {name}: "
                                 f"app {app:.2f} CPU" + (f", {used}" if used else "")
                                 + "): the database and the load side share this machine, so "
                                   "these capacities are this host's; with the backends on "
                                   "cores of their own they would be higher",
                      "evidence": [{"candidate": n, "app_cpus": a, "host_busy_cpus": h,
                                    "backend_cpus": b} for n, a, h, _, b in shared]})
    most = int((memory_limit_bytes / 2**20 - MEMORY_BASE_MIB) // max(worker_mib, 1.0))
    planned = most_workers(memory_limit_bytes, worker_mib)
    found.append({"kind": "memory per worker",
                  "summary": f"a worker holds about {worker_mib:.0f} MiB with the app loaded: "
                             f"{memory_limit_bytes / 2**20:.0f} MiB holds about {most} "
                             f"before the kernel would kill; {planned} with "
                             f"{MEMORY_HEADROOM:.0%} kept for what requests allocate",
                  "evidence": {"worker_mib": worker_mib, "workers_that_fit": most,
                               "workers_planned": planned}})
    return found
