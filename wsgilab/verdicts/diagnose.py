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
  ``--timeout`` (a sync worker is aborted there);
- **concurrency-bound**: a candidate whose every slot was busy (its closed level's peak in
  flight at its cap) while, at its capacity, it used less than CONCURRENCY_CPU_SHARE of its
  CPUs: more threads or workers would serve more, up to the count Little's law gives
  (``sizing.Demand``);
- **what the rate it must serve needs**: with a ``rate`` in the declaration, the requests
  in flight (rate x the time in the app, Little's law) and the CPUs (rate x the CPU per
  request, at ``recommend.PLANNED_UTILISATION``), each from its own measurement;
- **memory grows with requests served**: over one launch of a candidate, the container's
  memory level by level against the requests sent so far, a straight line (least
  squares) steep and straight enough that it is the requests, not the warm-up: how much
  per request, and after how many more the limit is reached.
"""

from __future__ import annotations

import json
import math

from scipy.stats import linregress

from wsgilab import families
from wsgilab.model.levels import cpuset_cores
from wsgilab.model.sizing import MEMORY_BASE_MIB, MEMORY_HEADROOM, most_workers
from wsgilab.verdicts.recommend import PLANNED_UTILISATION

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
#: A candidate whose every slot was busy while it used less than this share of its CPUs
#: at its capacity was held by its concurrency, not its CPU: the share a CPU-bound
#: configuration here reaches at its capacity is 0.70-0.89 (records/capacity), so below
#: 0.6 the CPU had room.
CONCURRENCY_CPU_SHARE = 0.6
#: Memory that grows with requests: at least this many bytes per request sent, over at
#: least LEAK_LEAST_GROWTH_MIB, on a line that fits (Pearson's r at least LEAK_LEAST_R)
#: over at least LEAK_LEAST_LEVELS levels. The healthy candidates of records/advise-shop,
#: -notes and -gateway (2026-12-06) grew at most 2,991 bytes a request and 20.8 MiB over a
#: launch (granian 1 x 128 starting its blocking threads as the load rose); most grew
#: under 2 MiB.
LEAK_LEAST_BYTES_PER_REQUEST = 4096
LEAK_LEAST_GROWTH_MIB = 32
LEAK_LEAST_R = 0.9
LEAK_LEAST_LEVELS = 4


def distinct_blocked(reports: list[dict]) -> list[dict]:
    """gevent's blocked-hub reports, each distinct blocked stack once, most frequent first:
    ``{"function", "frames", "count", "longest_s", "pids"}`` (``count`` reports showed it;
    ``longest_s`` the longest block, seconds). Reports already made distinct (with a
    ``count``) are merged as they are."""
    found: dict[str, dict] = {}
    for report in reports or []:
        key = json.dumps(report.get("frames") or [], sort_keys=True) + str(report.get("function"))
        entry = found.setdefault(key, {"function": report.get("function"),
                                       "frames": report.get("frames") or [], "count": 0,
                                       "longest_s": None, "pids": []})
        entry["count"] += int(report.get("count", 1))
        took = report.get("longest_s", report.get("blocking_time_s"))
        if took is not None:
            entry["longest_s"] = max(took, entry["longest_s"] or 0.0)
        for pid in report.get("pids") or [report.get("pid")]:
            if pid is not None and pid not in entry["pids"]:
                entry["pids"].append(pid)
    return sorted(found.values(), key=lambda e: -e["count"])


def _family(result: dict) -> families.Family:
    return families.get(result["candidate"]["family"])


def memory_growth(series: list[list[int]], memory_limit_bytes: int) -> dict | None:
    """Whether memory grew with the requests one launch served: from ``[[requests sent so
    far, memory bytes], ...]``, the least-squares line's bytes per request, the growth over
    the launch and, at that rate, the requests until ``memory_limit_bytes``; None where
    the line is not steep, long or straight enough (LEAK_LEAST_*)."""
    if len(series) < LEAK_LEAST_LEVELS or len({x for x, _ in series}) < 2:
        return None
    xs, ys = [x for x, _ in series], [y for _, y in series]
    line = linregress(xs, ys)
    growth = line.slope * (xs[-1] - xs[0])
    if (line.slope < LEAK_LEAST_BYTES_PER_REQUEST or growth < LEAK_LEAST_GROWTH_MIB * 2**20
            or line.rvalue < LEAK_LEAST_R):
        return None
    until = max(0, int((memory_limit_bytes - ys[-1]) / line.slope))
    return {"bytes_per_request": round(line.slope), "growth_bytes": round(growth),
            "r": round(line.rvalue, 3), "requests": xs[-1], "until_limit_requests": until,
            "summary": f"its memory grew {line.slope / 1024:.1f} KiB a request "
                       f"({ys[0] / 2**20:.0f} to {ys[-1] / 2**20:.0f} MiB over {xs[-1]} "
                       f"requests, r = {line.rvalue:.2f}): at that rate the limit is reached "
                       f"after about {until} more requests, and the kernel kills a worker"}


def diagnose(results: list[dict], memory_limit_bytes: int, worker_mib: float,
             mix_labels: list[str], cpus: float | None = None, demand: dict | None = None,
             target_rps: float | None = None) -> list[dict]:
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
        demand: the record's ``sizing.Demand`` (``to_dict``), or None (older records).
        target_rps: the rate the app must serve, if its declaration gives one.
    """
    found = []
    for r in results:
        name = r["candidate"]["name"]
        leak = memory_growth(r.get("memory_by_requests") or [], memory_limit_bytes)
        if leak:
            found.append({"kind": "memory grows with requests served",
                          "summary": f"{name}: {leak['summary']}", "evidence": leak})
        blocked = distinct_blocked(r.get("blocked") or [])
        if blocked:
            times = sum(b["count"] for b in blocked)
            workers = (r.get("settings") or {}).get("workers", 1)
            peak = (r.get("closed") or {}).get("server_peak")
            pinned = peak is not None and peak <= workers + PINNED_SLACK
            found.append({"kind": "gevent hub blocked",
                          "summary": f"{name}: gevent's monitor saw the hub blocked {times} "
                                     f"time(s), from {len(blocked)} distinct stack(s): "
                                     + ", ".join(f"{b['function'] or '?'} ({b['count']}x)"
                                                 for b in blocked)
                                     + (f"; in flight pinned at {peak} with {workers} worker(s)"
                                        if pinned else ""),
                          "evidence": blocked})
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
    if cpus:
        found += _concurrency_bound(results, cpus, demand)
    if target_rps and demand:
        in_flight = math.ceil(target_rps * demand["service_ms"] / 1000.0)
        cpus_needed = target_rps * demand["cpu_ms"] / 1000.0 / PLANNED_UTILISATION
        found.append({"kind": "what the rate it must serve needs",
                      "summary": f"{target_rps:g} req/s needs about {in_flight} requests in "
                                 f"flight (Little's law: the rate x {demand['service_ms']:.1f} ms "
                                 f"in the app) and about {math.ceil(cpus_needed * 10) / 10:g} CPUs "
                                 f"({demand['cpu_ms']:.1f} ms of CPU a request, at "
                                 f"{PLANNED_UTILISATION:.0%} utilisation); now {cpus:g} CPU",
                      "evidence": {"in_flight": in_flight, "cpus": cpus_needed,
                                   "service_ms": demand["service_ms"], "cpu_ms": demand["cpu_ms"]}})
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
                                 + "): " + (f"{', '.join(backends)} and other" if backends else
                                            "other")
                                 + " processes (the engine, the kernel's network work) ran on "
                                   "its cores, so these capacities are this host's; with cores "
                                   "of its own it would hold more",
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


def _concurrency_bound(results: list[dict], cpus: float, demand: dict | None) -> list[dict]:
    """The candidates whose every slot was busy (closed level's peak at the cap) while
    they used less than CONCURRENCY_CPU_SHARE of ``cpus`` at their capacity."""
    held = []
    for r in results:
        settings, closed = r.get("settings"), r.get("closed") or {}
        app = (r.get("at_capacity") or {}).get("app_cpus")
        if not settings or app is None or closed.get("server_peak") is None:
            continue
        try:
            cap = families.model(settings).limit
        except (KeyError, ValueError):
            continue
        if cap and closed["server_peak"] >= cap and app < CONCURRENCY_CPU_SHARE * cpus:
            held.append((r["candidate"]["name"], cap, app))
    if not held:
        return []
    law = (f"; the app asks for {demand['in_flight']} in flight (Little's law: {cpus:g} CPU x "
           f"{demand['service_ms']:.1f} ms in the app / {demand['cpu_ms']:.1f} ms of CPU)"
           if demand else "")
    return [{"kind": "concurrency-bound",
             "summary": "; ".join(f"{n}: all {cap} slots busy while it used {app:.2f} of its "
                                  f"{cpus:g} CPU at its capacity" for n, cap, app in held)
                        + f": its concurrency, not its CPU, held it; more threads or workers "
                          f"would serve more{law}",
             "evidence": [{"candidate": n, "cap": cap, "app_cpus": app} for n, cap, app in held]}]
