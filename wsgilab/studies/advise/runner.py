"""``make advise APP=<folder>``: measure any WSGI app under its own limits and recommend the
configuration to deploy.

1. **Read** the app's declaration (``declaration.load``); **stage** its code and
   requirements over the servers' pins and **build** its images (``images.stage``, compose
   build). A bad declaration, a requirement that conflicts or does not install stops here,
   before any load (exit status ``BAD_INPUT``).
2. **Start** the app's own project (``project``: nginx on 127.0.0.1:8090, the backends it
   asked for, PostgreSQL with its SQL) through a lab session; calibrate the load side.
3. **Probe**: one sync worker of the app. It must become healthy (else its log, with the
   import's traceback, is shown), and every request of the mix must answer 2xx in a smoke
   pass (else each path's status and the answer's start). From the probe: each request's
   service time alone, one worker's memory, what the container reports to the sizing
   rules (exit status ``APP_FAILED`` where it fails), and, from a closed level of one VU,
   the mix's time in the app and CPU per request: by Little's law, the requests in flight
   its CPUs need (``sizing.Demand``).
4. **Candidates** (``candidates.generate``): each server family sized to that demand, and
   the popular rules' picks, one at a time: a closed level (per-path latency, CPU per
   request, memory, errors under concurrency) and a capacity search under the objective
   (``lab.search.find_capacity``).
5. **Search** around the law: for the REFINE_FAMILIES families that held most (measured,
   not lower bounds), twice the law's count and on, else half, while ``refine.Walk``
   says the next step is worth measuring (not clearly lower, not a lower bound, not
   flat twice in a row), at most ``refine.REFINE_MOST_STEPS`` a family.
6. **Repeats**: the best and the runner-up are each measured TIE_REPEATS more times (one
   search here differs from the next by more than the noise), and the recommendation
   reads their repeats (``recommend``).
7. **Diagnose** and **recommend** (``diagnose``, ``recommend``); the record
   (``bench.json``, its ``advice``) holds it all, and a short text ends the command.
   Steps 5 and 6 are left out, and said so, once the run has used ADVISE_BUDGET_S.
   ``python -m wsgilab report`` renders the page (the Makefile target runs both).

A run that fails or is interrupted midway keeps what it measured, and both the app's
project and the lab are left as they were declared.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

from wsgilab import families
from wsgilab.lab import compose, images, pythons
from wsgilab.lab.compose import ComposeError
from wsgilab.lab.engine import DockerEngine
from wsgilab.lab.measure import FRONT_END, Pace
from wsgilab.lab.probe import Probe
from wsgilab.lab.run import Run, base_image, fmt_duration, front_end_cpuset, link
from wsgilab.lab.search import MAX_VUS, find_capacity
from wsgilab.lab.session import LabSession, NotServing
from wsgilab.model import app as declaration
from wsgilab.model import interpreters, sizing
from wsgilab.model.capacity import Search, maximum
from wsgilab.model.levels import Variant
from wsgilab.model.load import Closed
from wsgilab.model.paths import ROOT, relative
from wsgilab.model.record import BenchRecord, LevelRecord
from wsgilab.model.theory import UnknownServer
from wsgilab.studies.advise import candidates as candidates_mod
from wsgilab.studies.advise import project, refine
from wsgilab.studies.advise.candidates import Candidate
from wsgilab.verdicts import recommend
from wsgilab.verdicts.conclude import conclude
from wsgilab.verdicts.diagnose import distinct_blocked
from wsgilab.verdicts.recommend import SAME_CAPACITY, exact
from wsgilab.workloads import get as workload

#: Exit statuses: the input cannot be measured (declaration, requirements, build), or the
#: app itself failed before any load (never healthy, a path that does not answer 2xx).
BAD_INPUT = 2
APP_FAILED = 3
#: Seconds per level, the first left out (a search's steps; the closed level too).
DURATION_S = 5
WARMUP_S = 1
#: The light form (CI, ``--light``): shorter levels, fewer steps, two candidates.
LIGHT_DURATION_S = 3
LIGHT_MAX_STEPS = 3
#: A user's app's maximum is an estimate from its mean service time and CPU per request;
#: its capacity may sit well off it, so the search takes wider steps than the lab's own.
ADVISE_GROWTH = 1.4
ADVISE_MAX_STEPS = 6
#: Each request of the mix, alone, this many times after one warm-up: its service time is
#: the median (sequential, one at a time: nothing queues).
SMOKE_TRIES = 3
#: The closed level's VUs: twice the candidate's cap, at most CLOSED_MOST_VUS (a cap that
#: binds shows its queue; an unbounded one at this many requests in flight).
CLOSED_MOST_VUS = 32
#: The families searched around the law's count, the best first (the walk's own
#: constants: ``refine``).
REFINE_FAMILIES = 2
#: More searches of each of the best two candidates: with the first, three repeats, the
#: fewest whose spread says something.
TIE_REPEATS = 2
#: The run's budget (seconds): past it, the search around the law and the ties' repeats
#: are left out and the record says so (``make advise``'s budget is 15 minutes, building
#: included).
ADVISE_BUDGET_S = 780
#: Lines of a candidate's log read after it is measured (warnings, errors).
LOG_LINES = 400
#: The most distinct error lines kept from a candidate's log.
MOST_ERRORS = 5
#: A log line that ends a Python traceback: ``SomeError: message`` (the exception's
#: class and text), after compose's ``service  | `` prefix.
_EXCEPTION_LINE = re.compile(r"^(?:\S+\s+\|\s)?([A-Za-z_][\w.]*(?:Error|Exception|Warning)): (.+)$")
#: The smoke pass's timeout per request (seconds).
SMOKE_TIMEOUT_S = 30
#: The probe: one sync worker, the app as the user would first run it.
PROBE = replace(Candidate.of(families.get("gunicorn-sync"), {"workers": 1}, "the probe: one sync worker"),
                name="probe")
#: Per candidate, what the estimate of the run's length allows (seconds): start, closed
#: level, a full search.
LAUNCH_ESTIMATE_S = 12
LEVEL_OVERHEAD_S = 3


class AdviseError(RuntimeError):
    """The run cannot go on; ``status`` is the exit status (BAD_INPUT, APP_FAILED)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wsgilab advise",
        description="Measure a WSGI app (its folder and lab-app.toml) under its own limits, "
                    "each candidate configuration's capacity under its objective, and "
                    "recommend the one to deploy.")
    parser.add_argument("app", type=Path, help="the app's folder (with lab-app.toml)")
    parser.add_argument("--light", action="store_true",
                        help="two candidates, short levels, few steps (CI)")
    parser.add_argument("--only", default="",
                        help="comma-separated candidate names to measure (default: all)")
    parser.add_argument("--smoke", action="store_true",
                        help="stop after the probe and the smoke pass (no load)")
    parser.add_argument("--results", type=Path, dest="results_dir",
                        help="results directory (default: results/advise-<app>-<timestamp>)")
    parser.add_argument("--load-cpus", default="0",
                        help="cores to pin k6 to (default: 0)")
    parser.add_argument("--python", default=None,
                        help="the interpreter the app runs on, a name in "
                             "services/python/interpreters.toml (3.13, 3.13t; default: the base "
                             "image's); a family whose server has no wheel for it is left out, "
                             "in pip's words")
    parser.add_argument("--pythons", default="",
                        help="comma-separated interpreters (3.11, 3.13, 3.13t) the recommended "
                             "configuration is measured on afterwards: what an upgrade, or the "
                             "free-threaded build, does for this app")
    parser.add_argument("--sweep", default=None, metavar="FAMILY",
                        help="instead of the search: one family's knobs swept wide around "
                             "Little's law's count (an eighth to eight times; its processes "
                             "where the count moves little), to check a recommendation against "
                             "(make advise-sweep; records/advise-<app>-sweep)")
    parser.add_argument("--keep", action="store_true",
                        help="leave the app's project up afterwards (its front end on "
                             f"127.0.0.1:{project.ADVISE_PORT})")
    return parser


def estimate_s(count: int, light: bool) -> float:
    """Seconds the measuring part should take at most for ``count`` candidates (and, in
    the full form, the search around the law and the ties' repeats)."""
    duration = LIGHT_DURATION_S if light else DURATION_S
    steps = LIGHT_MAX_STEPS if light else ADVISE_MAX_STEPS
    one = LAUNCH_ESTIMATE_S + (1 + steps) * (duration + LEVEL_OVERHEAD_S)
    if light:
        return count * one
    extra = (REFINE_FAMILIES * refine.REFINE_MOST_STEPS + 2 * TIE_REPEATS) * one
    return count * one + min(extra, max(0.0, ADVISE_BUDGET_S - count * one))


def _request(base_url: str, service: str, req: declaration.Request) -> tuple[int, float, str]:
    """Send one request of the mix to ``service`` through the front end: (status, service
    time in ms from the instrument's Server-Timing ``app;dur=``, the answer's start)."""
    data = req.body.encode() if req.body else None
    r = urllib.request.Request(f"{base_url}/{service}{req.path}", data=data, method=req.method,
                               headers=req.headers)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(r, timeout=SMOKE_TIMEOUT_S) as resp:
            status, body, timing = resp.status, resp.read(400), resp.headers.get("Server-Timing", "")
    except urllib.error.HTTPError as exc:
        status, body, timing = exc.code, exc.read(400), exc.headers.get("Server-Timing", "")
    wall_ms = (time.monotonic() - started) * 1000.0
    app_ms = next((float(part.split("dur=")[1]) for part in timing.split(",")
                   if part.strip().startswith("app;dur=")), wall_ms)
    return status, app_ms, body.decode("utf-8", "replace")


def smoke(spec: declaration.AppSpec, base_url: str, service: str) -> list[dict]:
    """Each request of the mix, alone: one warm-up, then SMOKE_TRIES tries.

    Returns:
        per request: ``label``, ``status`` (the last), ``statuses``, ``service_ms`` (the
        median of the tries), ``answer`` (the start of a non-2xx answer).
    """
    found = []
    for req in spec.requests:
        statuses, times, answer = [], [], ""
        for attempt in range(1 + SMOKE_TRIES):
            try:
                status, app_ms, body = _request(base_url, service, req)
            except OSError as exc:
                status, app_ms, body = 0, 0.0, f"{type(exc).__name__}: {exc}"
            statuses.append(status)
            if not 200 <= status < 300:
                answer = body
                break
            if attempt:
                times.append(app_ms)
        found.append({"label": req.label, "weight": req.weight, "status": statuses[-1],
                      "statuses": statuses,
                      "service_ms": statistics.median(times) if times else None,
                      "answer": answer})
    return found


def mix_service_ms(smoked: list[dict]) -> float:
    """The mix's mean service time (ms): each request's, weighted."""
    total = sum(s["weight"] for s in smoked)
    return sum(s["service_ms"] * s["weight"] for s in smoked) / total


def worker_mib(health: dict) -> float:
    """One worker's memory with the app loaded (MiB): the median proportional share (Pss)
    of the processes that loaded it, from the instrument's per-process facts."""
    values = [p["memory"]["pss_bytes"] for p in (health.get("processes") or {}).values()
              if (p.get("memory") or {}).get("pss_bytes")]
    if not values:
        raise AdviseError("the probe reported no process with the app loaded", APP_FAILED)
    return statistics.median(values) / 2**20


class Advise:
    """One advise run: the app's declaration, its options, and the run that measures it.

    Attributes:
        run: the run (``wsgilab.lab.run.Run``) on the app's own compose project; its
            record is the advise record.
    """

    def __init__(self, spec: declaration.AppSpec, ns: argparse.Namespace, out,
                 **run_args) -> None:
        self.spec, self.ns, self.out = spec, ns, out
        # Seconds each candidate took (launch, closed level, search): what a repeat costs.
        self._taken: list[float] = []
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.results_dir = ns.results_dir or ROOT / "results" / f"advise-{spec.name}-{stamp}"
        self.project = project.project(spec)
        load_cpus = frozenset(int(c) for c in ns.load_cpus.split(",") if c.strip())
        self.light = ns.light
        pace = Pace(LIGHT_DURATION_S if ns.light else DURATION_S, WARMUP_S, load_cpus, raw=False)
        options = {"app": relative(spec.folder), "light": ns.light, "only": ns.only,
                   "sweep": getattr(ns, "sweep", None),
                   "python": getattr(ns, "python", None),
                   "duration_s": pace.duration_s, "warmup_s": pace.warmup_s,
                   "load_cpus": sorted(load_cpus), "objective": spec.objective.to_dict(),
                   "results_dir": relative(self.results_dir)}
        run_args.setdefault("engine", DockerEngine(self.project))
        run_args.setdefault("probe", Probe(project.base_url()))
        self.run = Run(self.results_dir, "advise", options, pace, out=out,
                       edge_cpuset=front_end_cpuset(), **run_args)
        self.record = self.run.record
        self.record.advice = {"app": spec.to_dict(), "candidates": [], "results": []}
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.record.save(self.results_dir / "bench.json")
        #: The server locks the app's images are built with (eventlet's where it asks).
        self.locks = ("servers", "servers-eventlet") if spec.eventlet else ("servers",)
        #: The app's backends, whose CPU each level records beside the app's.
        self.backends = (("postgres",) if spec.postgres is not None else ()) + (
            ("upstream",) if spec.upstream else ())
        #: The interpreter the candidates run on (None: the base image's), and the level
        #: variant that holds them to it (``session.python_mismatch``).
        self.python = interpreters.get(ns.python) if getattr(ns, "python", None) else None
        if self.python is not None and self.python.system:
            self.python = None
        self.variant = _variant(self.python)
        #: Families that cannot run the app on that interpreter: ``{family: pip's words}``.
        self.left_out: dict[str, str] = {}
        #: The interpreters the recommendation is measured on afterwards (``--pythons``),
        #: each with the families it cannot run, or the reason the app cannot be staged.
        self.others: dict[str, dict] = {
            name: {} for name in _names(getattr(ns, "pythons", ""))
            if name != (self.python.name if self.python else interpreters.DEFAULT)}
        self.mix_file = self.results_dir / "mix.json"
        self.mix_file.write_text(json.dumps([r.to_dict() for r in spec.requests], indent=1))

    # --- before any load --------------------------------------------------------------
    def prepare(self) -> None:
        """Stage the app, write its project with the probe, build its images.

        Raises:
            AdviseError: requirements conflict or do not install (BAD_INPUT).
        """
        spec = self.spec
        self.base_image = base = base_image()
        servers = self.locks
        self.out(f"advise: {spec.name} ({spec.entry}) under {spec.cpus:g} CPU"
                 f"{f' on cores {spec.cpuset}' if spec.cpuset else ' (a quota only)'}, "
                 f"{spec.memory}, objective {spec.objective.describe()}; results: {self.results_dir}")
        self.out(f"advise: staging {spec.requirements_file.name} over the servers' pins")
        offered = {f.name: (f.requirements, f.distributions)
                   for f in candidates_mod.offered(servers)}
        try:
            stage = images.stage(spec.name, spec.folder, spec.requirements_file, base,
                                 servers=servers, project=spec.project, families=offered)
        except images.RequirementConflict as exc:
            raise AdviseError(f"the app's requirements conflict with every server's pins: "
                              f"{exc}", BAD_INPUT) from None
        conflicts = images.left_out(stage)
        if self.python is None:
            self._leave_out(conflicts, "its pins conflict with the app's requirements")
        else:
            self._stage_python(stage, base)
        for name, other in self.others.items():
            interp = interpreters.get(name)
            if interp.system:
                other["left_out"] = conflicts
                continue
            try:
                other["left_out"] = self._staged_for(interp, stage, base)[0]
            except (pythons.PythonNotBuilt, images.RequirementConflict,
                    subprocess.CalledProcessError) as exc:
                other["error"] = str(exc)[:500]
                self.out(f"advise: the app cannot run on Python {name}: {other['error']}")
        probes = [PROBE] + ([replace(PROBE, name="probe-eventlet", servers="servers-eventlet")]
                            if spec.eventlet else [])
        project.write(spec, probes, base, os.cpu_count() or 1, self.run.pace.load_cpus,
                      python=self.python)
        compose.forget()
        self.out("advise: building the app's image(s)")
        try:
            # The lab's own images the project runs: its front end and the backends.
            compose.compose("build", "nginx", "postgres", "upstream", capture=True)
            with compose.using(self.project):
                compose.compose("build", *[p.name for p in probes], capture=True)
        except ComposeError as exc:
            raise AdviseError("the app's image did not build (its requirements did not "
                              f"install?):\n{_tail(str(exc), 30)}", BAD_INPUT) from None

    def _stage_python(self, stage: Path, base: str) -> None:
        """The interpreter's image (built once, cached by its key) and the app staged for
        it; the families whose server it left out, in pip's words.

        Raises:
            AdviseError: it did not build, the app's requirements have no wheels for it,
                or it leaves out the probe's own family (BAD_INPUT).
        """
        interp = self.python
        try:
            left_out, servers = self._staged_for(interp, stage, base)
        except (pythons.PythonNotBuilt, images.RequirementConflict) as exc:
            raise AdviseError(str(exc), BAD_INPUT) from None
        except subprocess.CalledProcessError as exc:
            raise AdviseError(f"Python {interp.name} did not build: {exc}", BAD_INPUT) from None
        self.record.advice["python"] = {"interpreter": interp.to_dict(),
                                        "servers": servers.to_dict(),
                                        "left_out_families": left_out}
        self._leave_out(left_out, f"on Python {interp.name}")

    def _leave_out(self, families: dict[str, str], where: str) -> None:
        """Leave ``families`` (``{family: pip's words}``) out of the run, each said and
        recorded (``advice.left_out_families``).

        Raises:
            AdviseError: the probe's own family is among them (BAD_INPUT): nothing can be
                measured.
        """
        if not families:
            return
        self.left_out.update(families)
        self.record.advice.setdefault("left_out_families", {}).update(families)
        for name, reason in families.items():
            self.out(f"advise: {name} left out ({where}): {reason}")
        if PROBE.family in families:
            raise AdviseError(f"the probe's own server cannot install the app ({where}): "
                              f"{families[PROBE.family]}", BAD_INPUT)
        self.record.save()

    def _staged_for(self, interp: interpreters.Interpreter, stage: Path,
                    base: str) -> tuple[dict[str, str], pythons.Wheelhouse]:
        """``interp`` built (cached by its key) and the app staged for it: the families it
        cannot run, in pip's words (``candidates.unavailable``), and the servers' wheels.

        Raises:
            pythons.PythonNotBuilt, images.RequirementConflict,
            subprocess.CalledProcessError: as ``pythons.build`` and ``stage_app`` say.
        """
        pythons.build(interp, base, self.out)
        _, servers = pythons.stage_app(interp, stage, self.out)
        return candidates_mod.unavailable(servers.left_out, interp.name), servers

    # --- the run ----------------------------------------------------------------------
    def execute(self) -> BenchRecord:
        """Everything after ``prepare``: the lab's configurations moved off the measured
        cores, the app's project started by the run's session, measured, and taken down.

        Raises:
            AdviseError: the app failed before any load (APP_FAILED).
            KeyboardInterrupt, session.Interrupted: stopped by a signal (record saved,
                projects put back).
        """
        edge = front_end_cpuset()
        lab = LabSession(DockerEngine(compose.LAB), out=self.out, edge_cpuset=edge,
                         reconcile_on_enter=False)
        with lab:
            moved = lab.vacate()
            if moved:
                self.out(f"lab: {len(moved)} of the lab's configurations moved to core(s) "
                         f"{edge} for the run")
            try:
                try:
                    self.run.__enter__()
                except ComposeError:
                    with compose.using(self.project):
                        logs = self._logs(compose.unhealthy())
                    raise AdviseError("the app's backends did not start:\n" + logs,
                                      APP_FAILED) from None
                with self.run:
                    self.run.describe_environment(self.base_image)
                    self._measure()
            finally:
                self.record.environment["restored"] = lab.restored + self.run.session.restored
                self.record.save()
                if not self.ns.keep:
                    with compose.using(self.project):
                        compose.down()
        return self.record

    def _logs(self, services: list[str], tail: int = 40) -> str:
        return "\n".join(f"--- {s} (last {tail} lines) ---\n{_plain(self.run.engine.logs(s, tail))}"
                         for s in services)

    def _measure(self) -> None:
        spec, advice, app = self.spec, self.record.advice, self.run.session
        base_url = self.run.probe.base_url
        # The probe.
        self.out("advise: starting the probe (one sync worker)")
        try:
            app.launch(PROBE.name)
        except ComposeError:
            raise AdviseError(f"{spec.entry} never became healthy in one gunicorn sync worker:\n"
                              + self._logs([PROBE.name], 60), APP_FAILED) from None
        self.run.probe.wait_reachable(PROBE.name, timeout_s=compose.RECREATE_TIMEOUT_S)
        smoked = smoke(spec, base_url, PROBE.name)
        advice["smoke"], advice["smoke_tries"] = smoked, SMOKE_TRIES
        for s in smoked:
            self.out(f"  smoke: {s['label']}: {s['status']}"
                     + (f", {s['service_ms']:.1f} ms alone" if s["service_ms"] is not None else ""))
        bad = [s for s in smoked if not 200 <= s["status"] < 300]
        if bad:
            self.record.save()
            raise AdviseError(
                "the smoke pass failed: "
                + "; ".join(f"{s['label']} answered {s['status'] or 'nothing'}: "
                            f"{s['answer'][:200]!r}" for s in bad)
                + "\n" + self._logs([PROBE.name], 40), APP_FAILED)
        health = self.run.probe.health(PROBE.name)
        service_ms = max(1.0, mix_service_ms(smoked))
        mib = worker_mib(health)
        advice.update(service_ms=service_ms, worker_mib=mib, container=health["container"],
                      runtime=health.get("runtime"),
                      objective_bound_ms=spec.objective.bound_for(service_ms))
        self.out(f"advise: the mix takes {service_ms:.1f} ms alone (weighted); a worker holds "
                 f"{mib:.0f} MiB; objective {spec.objective.describe(service_ms)}")
        if self.ns.smoke:
            app.retire(PROBE.name)
            self.record.status = "smoke pass only"
            self.record.save()
            return
        calibration = self.run.calibrate()
        # k6 runs in the repository's root: a path relative to it reads on any machine.
        params = {"mix_file": relative(self.mix_file), "mix_service_ms": int(round(service_ms))}
        demand = self._demand(params, service_ms, mib)
        self._retire(PROBE.name)
        advice["demand"] = demand.to_dict()
        self.out(f"advise: the app asks for {demand.describe()}; its CPU serves at most "
                 f"{demand.cpu_bound_rps:.0f} req/s")
        # The candidates, and the sizing rules on what the user's container reports.
        rules_see = health["container"]
        if spec.cpuset is None:
            rules_see = project.quota_only_facts(rules_see, os.cpu_count() or 1)
        advice["rules_see"] = rules_see
        swept = getattr(self.ns, "sweep", None)
        if swept:
            family = families.get(swept)
            if family.name in self.left_out:
                raise AdviseError(f"{family.name} cannot be swept: it was left out: "
                                  f"{self.left_out[family.name]}", BAD_INPUT)
            found = candidates_mod.sweep(family, demand)
        else:
            found = candidates_mod.generate(demand, mib, rules_see, light=self.light,
                                            locks=self.locks, exclude=frozenset(self.left_out))
        if self.ns.only:
            wanted = set(_names(self.ns.only))
            unknown = wanted - {c.name for c in found}
            if unknown:
                raise AdviseError(f"--only names no candidate: {', '.join(sorted(unknown))} "
                                  f"(candidates: {', '.join(c.name for c in found)})", BAD_INPUT)
            found = [c for c in found if c.name in wanted]
        self._offer(found, self.python)
        total = estimate_s(len(found), self.light or bool(self.ns.only or swept))
        self.out(f"advise: {len(found)} candidates: {', '.join(c.name for c in found)}; about "
                 f"{fmt_duration(total)} at most")
        for i, candidate in enumerate(found, 1):
            self.out(f"[{i}/{len(found)}] {candidate.name}: {candidate.why} (about "
                     f"{fmt_duration(max(0.0, total - self.run.elapsed_s))} left at most)")
            self._measured(candidate, params, calibration.max_rps, "sweep" if swept else "law")
        if not (self.light or self.ns.only or swept):
            self._search_around_the_law(demand, params, calibration.max_rps)
            self._repeat_ties(params, calibration.max_rps)
        advice.update(conclude(advice))
        self.record.save()
        if self.others:
            self._on_other_pythons(params, calibration.max_rps)

    def _on_other_pythons(self, params: dict, ceiling_rps: float) -> None:
        """The recommended configuration measured again on each of ``--pythons``, the same
        way (a fresh container, its closed level, a search): ``advice["pythons"]``, one
        entry per interpreter with its result, or why it was not measured."""
        advice = self.record.advice
        best = (advice.get("recommendation") or {}).get("best")
        advice["pythons"] = found = []
        if not best:
            self.out("advise: no recommendation to measure on other Pythons")
            return
        chosen = next(Candidate.from_dict(r["candidate"]) for r in advice["results"]
                      if r["candidate"]["name"] == best)
        for name, other in self.others.items():
            interp = interpreters.get(name)
            why = other.get("error") or (other.get("left_out") or {}).get(chosen.family)
            if why:
                found.append({"python": name, "not_measured": why})
                self.out(f"advise: {best} not measured on Python {name}: {why}")
                continue
            python = None if interp.system else interp
            self._offer([], python)
            self.out(f"[python {name}] {best}: building its image and measuring it again")
            try:
                with compose.using(self.project):
                    compose.compose("build", chosen.name, capture=True)
            except ComposeError as exc:
                found.append({"python": name, "not_measured": _tail(str(exc), 5)})
                continue
            result = self._candidate(chosen, params, ceiling_rps, _variant(python))
            found.append({"python": name, "result": result})
            self.record.save()
        self.record.save()

    def _demand(self, params: dict, smoke_ms: float, mib: float) -> sizing.Demand:
        """The probe under one VU: the mix's time in the app (Little's law on the level,
        L / X) and CPU per request; the demand they give (``sizing.Demand.of``). Where the
        level failed, the smoke pass's time and a CPU per request equal to it (as if the
        app only computed: one request in flight per core), said so."""
        spec, advice = self.spec, self.record.advice
        cfg = self.run.serving(PROBE.name, self.variant)
        self.out("advise: the probe under one VU: the app's time and CPU per request")
        entry = self.run.measure(workload("mix").level(PROBE.name, Closed(1), params, self.variant),
                                 cfg, self.backends)
        f = entry.figures or {}
        service_ms, cpu_ms = smoke_ms, None
        if entry.result is not None and f.get("throughput_rps") and f.get("little_inflight"):
            service_ms = f["little_inflight"] / f["throughput_rps"] * 1000.0
            cpu_ms = f.get("cpu_ms_per_request")
        advice["probe_level"] = {"slug": entry.level.slug, "service_ms": service_ms,
                                 "cpu_ms_per_request": cpu_ms, "line": _line(entry)}
        if not cpu_ms:
            self.out("advise: the probe's level measured no CPU per request; sizing as if the "
                     "app only computed (one request in flight per core)")
            cpu_ms = service_ms
        return sizing.Demand.of(spec.cpus, service_ms, cpu_ms,
                                sizing.most_workers(spec.memory_bytes, mib))

    def _offer(self, found: list[Candidate], python: interpreters.Interpreter | None) -> None:
        """Add ``found`` to the record's candidates and to the app's project (its compose
        file and the front end's map of configurations, reloaded), every candidate on
        ``python`` (None: the base image's)."""
        advice = self.record.advice
        advice["candidates"] = advice["candidates"] + [c.to_dict() for c in found]
        every = [Candidate.from_dict(c) for c in advice["candidates"]]
        project.write(self.spec, every, self.base_image, os.cpu_count() or 1,
                      self.run.pace.load_cpus, python=python)
        compose.forget()
        self.run.engine.exec(FRONT_END, ["nginx", "-s", "reload"])

    def _measured(self, candidate: Candidate, params: dict, ceiling_rps: float,
                  sized_by: str) -> dict:
        """Measure ``candidate`` (``_candidate``), keep its result with how it was sized
        (``law``: the law's count; ``search``: around it; a rule's pick is ``law`` too, its
        reasons say which), and save."""
        result = self._candidate(candidate, params, ceiling_rps)
        result["sized_by"] = sized_by
        self.record.advice["results"].append(result)
        self.record.save()
        return result

    def _over_budget(self, what: str, reserve_s: float = 0.0) -> bool:
        """Whether the run has used ADVISE_BUDGET_S, less ``reserve_s`` kept for what must
        follow (said and recorded as left out where it has)."""
        if self.run.elapsed_s + reserve_s < ADVISE_BUDGET_S:
            return False
        self.out(f"advise: {what} left out: the run has used {fmt_duration(self.run.elapsed_s)} "
                 f"of its {fmt_duration(ADVISE_BUDGET_S)}")
        self.record.advice.setdefault("left_out", []).append(what)
        return True

    def _search_around_the_law(self, demand: sizing.Demand, params: dict,
                               ceiling_rps: float) -> None:
        """For the REFINE_FAMILIES families that held most, measured to their top (a lower
        bound says nothing about a neighbour), the law's count from the family's own CPU
        per request (``_own_demand``) times REFINE_UP, again and
        again while ``refine.Walk`` says the next is worth measuring; where no step up
        rose, times REFINE_DOWN likewise. Each step's capacity is recorded with the
        requests in flight it was sized for (the family's curve) and each walk's end with
        its reason (``advice["walks"]``)."""
        results = self.record.advice["results"]
        best: dict[str, dict] = {}
        for r in results:
            fam = r["candidate"]["family"]
            if exact(r) and (fam not in best or r["capacity_rps"] > best[fam]["capacity_rps"]):
                best[fam] = r
        ranked = sorted(best.values(), key=lambda r: -r["capacity_rps"])[:REFINE_FAMILIES]
        if ranked:
            self.out(f"advise: searching around the law's count for "
                     f"{', '.join(r['candidate']['family'] for r in ranked)}")
        walks = self.record.advice.setdefault("walks", [])
        for start in ranked:
            walk = refine.Walk(start["capacity_rps"], SAME_CAPACITY)
            own = _own_demand(demand, start.get("cpu_ms_per_request"))
            # The family's own law first, where its CPU per request moves the count off the
            # probe's (the gateway's gthread: 61 in flight, not 35); then doubled, or halved.
            first = 1.0 if candidates_mod.resized(Candidate.from_dict(start["candidate"]), own,
                                                  1.0) is not None else None
            for factor in (refine.REFINE_UP, refine.REFINE_DOWN):
                here, scale, on = start, first or factor, True
                first = None
                while on:
                    # The ties' repeats decide the recommendation: the walk leaves them room.
                    if self._over_budget("the search around the law",
                                         2 * TIE_REPEATS * self._candidate_s()):
                        return
                    nxt = candidates_mod.resized(Candidate.from_dict(here["candidate"]), own, scale)
                    if nxt is None:
                        break
                    known = next((r for r in results if r["candidate"]["name"] == nxt.name), None)
                    if known is not None:  # measured already (a rule's pick): read, not again
                        result = known
                        self.out(f"[search] {nxt.name}: measured already, "
                                 f"{known.get('capacity_rps') or 'no capacity'}")
                    else:
                        self._offer([nxt], self.python)
                        self.out(f"[search] {nxt.name}: {nxt.why}")
                        result = self._measured(nxt, params, ceiling_rps, "search")
                    on = walk.step(result.get("capacity_rps"), not exact(result), known is None)
                    here, scale = result, scale * factor
                if walk.rose or walk.steps >= refine.REFINE_MOST_STEPS:
                    break
            walks.append({"family": start["candidate"]["family"], "from": start["candidate"]["name"],
                          "law_in_flight": own.in_flight, "cpu_ms": own.cpu_ms,
                          "steps": walk.steps, "best_rps": walk.best_rps,
                          "stopped": walk.stopped or "no other size"})
            self.out(f"    {start['candidate']['family']}: the walk stopped after {walk.steps} "
                     f"step(s): {walk.stopped or 'no other size'}")

    def _repeat_ties(self, params: dict, ceiling_rps: float) -> None:
        """The best and the runner-up (both measured to their top), each TIE_REPEATS more
        times (``recommend.contenders``): the recommendation reads their repeats (median
        and spread), and says *undecided* where they straddle."""
        results = self.record.advice["results"]
        tied = recommend.contenders(results)
        if not tied:
            return
        self.out(f"advise: the best two, {' and '.join(r['candidate']['name'] for r in tied)}: "
                 f"{TIE_REPEATS} more searches of each, for their spread")
        for r in tied:
            candidate = Candidate.from_dict(r["candidate"])
            for _ in range(TIE_REPEATS):
                if self._over_budget("the ties' repeats"):
                    return
                # The same procedure as the first: a fresh container, its closed level, a search.
                again = self._candidate(candidate, params, ceiling_rps)
                r.setdefault("repeats", [r["capacity_rps"]])
                r["repeats"].append(again.get("capacity_rps"))
                r.setdefault("repeat_searches", []).append(again.get("search"))
                self.record.save()

    def _candidate_s(self) -> float:
        """The seconds one candidate has taken in this run so far (the median), or the
        estimate's before any."""
        return statistics.median(self._taken) if self._taken else estimate_s(1, self.light)

    def _candidate(self, candidate: Candidate, params: dict, ceiling_rps: float,
                   variant: Variant | None = None) -> dict:
        """Launch, measure (closed level, capacity search) and retire one candidate, on
        ``variant``'s interpreter (default: the run's own)."""
        began = time.monotonic()
        try:
            return self._measure_candidate(candidate, params, ceiling_rps, variant)
        finally:
            self._taken.append(time.monotonic() - began)

    def _measure_candidate(self, candidate: Candidate, params: dict, ceiling_rps: float,
                           variant: Variant | None) -> dict:
        name, spec = candidate.name, self.spec
        variant = self.variant if variant is None else variant
        result: dict = {"candidate": candidate.to_dict()}
        cfg = self.run.serving(name, variant, launch=True)
        if isinstance(cfg, NotServing):
            result["error"] = str(cfg)[:300]
            result["log"] = _tail(_plain(self.run.engine.logs(name, 40)), 40)
            self._retire(name)
            return result
        result.update(settings=cfg.settings, formula=cfg.capacity.formula,
                      limits=cfg.limits.to_dict())
        mix = workload("mix")
        service_ms = float(params["mix_service_ms"])
        vus = min(MAX_VUS, 2 * min(cfg.capacity.limit or CLOSED_MOST_VUS, CLOSED_MOST_VUS))
        first_level = len(self.record.levels)
        closed = self.run.measure(mix.level(name, Closed(vus), params, variant), cfg,
                                  self.backends)
        figures = closed.figures or {}
        result["closed"] = {k: v for k, v in figures.items() if k != "by_path"}
        result["closed_level"] = closed.level.slug
        result["by_path"] = figures.get("by_path", {})
        result["cpu_ms_per_request"] = figures.get("cpu_ms_per_request")
        usable = min(x for x in (cfg.limits.cpus or None, float(cfg.limits.cpuset_cpus)) if x)
        top = maximum(cfg.capacity, service_ms, usable, figures.get("cpu_ms_per_request"))
        first = None if top[0] else max(1.0, figures.get("throughput_rps", 1.0))
        found = find_capacity(
            self.run, name, cfg if closed.result is not None else NotServing("the closed level failed"),
            "mix", params, spec.objective, maximum=top, ceiling_rps=ceiling_rps,
            variant=variant,
            start_rps=first, max_steps=LIGHT_MAX_STEPS if self.light else ADVISE_MAX_STEPS,
            growth=ADVISE_GROWTH, containers=self.backends)
        self.record.capacities.append(found.to_dict())
        result["capacity_rps"] = found.capacity_rps
        result["at_capacity"] = at_capacity(self.record, name, found, self.backends)
        result["search"] = found.to_dict()
        result["memory_by_requests"] = memory_by_requests(self.record.levels[first_level:], name)
        try:
            after = self.run.probe.health(name)
            result["processes"] = after.get("processes")
            # Each distinct blocked stack once, counted: a record need not hold every report.
            result["blocked"] = distinct_blocked(after.get("blocked") or [])
            events = after["container"].get("memory_events", {})
            result["oom_kills"] = events.get("oom_kill", 0)
            result["memory_peak_bytes"] = events.get("peak_bytes")
        except (ConnectionError, OSError, KeyError) as exc:
            result["health_error"] = str(exc)
        log = _plain(self.run.engine.logs(name, LOG_LINES)).splitlines()
        result["log_warnings"] = [line for line in log if "Warning" in line or "WARNING" in line][:20]
        result["log_errors"] = log_errors(log)
        self._retire(name)
        cap = found.capacity_rps
        self.out(f"    {name}: capacity {f'{cap:.1f} req/s' if cap else 'none'} under "
                 f"{spec.objective.describe(service_ms)}"
                 + (f"; memory peak {result['memory_peak_bytes'] / 2**20:.0f} MiB"
                    if result.get("memory_peak_bytes") else ""))
        return result

    def _retire(self, name: str) -> None:
        try:
            self.run.session.retire(name)
        except ComposeError as exc:
            self.out(f"    {name}: could not be removed now ({exc}); the session's end removes it")
        self.run.forget(name)


def _own_demand(demand: sizing.Demand, cpu_ms: float | None) -> sizing.Demand:
    """``demand`` as one family sees it: the law's count from the family's own CPU per
    request (ms, measured in its closed level: a server's own work differs from the
    probe's sync worker's), the app's service time and the limits unchanged; ``demand``
    itself where the family's CPU was not measured."""
    if not cpu_ms or cpu_ms <= 0:
        return demand
    return sizing.Demand.of(demand.cpus, demand.service_ms, cpu_ms, demand.most_processes)


def _variant(python: interpreters.Interpreter | None) -> Variant:
    """The level variant that holds a candidate to ``python`` (None: the base image's)."""
    return Variant(python=python.name) if python is not None else Variant()


def _names(text: str) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def at_capacity(record: BenchRecord, name: str, found: Search, backends: tuple[str, ...]) -> dict:
    """What the machine did at a candidate's capacity (its last passing step's level): the
    app's CPUs and throttled periods, each backend's CPUs, the host's cores busy on the
    app's cores (everything that ran there), and the load side's busy share."""
    passed = [s for s in found.steps if s.passed]
    if not passed:
        return {}
    slug = max(passed, key=lambda s: s.rate_rps).slug
    entry = next((e for e in reversed(record.levels)
                  if e.level.configuration == name and e.level.slug == slug), None)
    usage = (entry.usage if entry else None) or {}
    return {"app_cpus": usage.get("app_cpu_fraction"),
            "app_throttled_periods": usage.get("app_throttled_periods"),
            "backend_cpus": {b: usage.get(f"{b}_cpu_fraction") for b in backends},
            "host_busy_cpus": usage.get("app_cores_busy_cpus"),
            "load_cores_busy": usage.get("load_cores_busy")}


def memory_by_requests(entries: list[LevelRecord], name: str) -> list[list[int]]:
    """One launch of a candidate, level by level: ``[requests sent so far, the app's
    memory at that level (bytes)]``, what a leak diagnosis reads (``diagnose``)."""
    found, sent = [], 0
    for entry in entries:
        if entry.level.configuration != name or entry.result is None:
            continue
        sent += entry.result.requests
        memory = (entry.usage or {}).get("app_memory_bytes")
        if memory is not None:
            found.append([sent, int(memory)])
    return found


def log_errors(lines: list[str]) -> list[dict]:
    """The distinct exceptions a candidate's log shows (the last line of each traceback),
    most frequent first: ``{"exception", "message", "count"}``, at most MOST_ERRORS."""
    counted: dict[tuple[str, str], int] = {}
    for line in lines:
        found = _EXCEPTION_LINE.match(line.strip())
        if found and not found.group(1).endswith("Warning"):
            key = (found.group(1), found.group(2).strip()[:200])
            counted[key] = counted.get(key, 0) + 1
    ranked = sorted(counted.items(), key=lambda item: -item[1])[:MOST_ERRORS]
    return [{"exception": e, "message": m, "count": n} for (e, m), n in ranked]


#: Terminal control sequences compose writes even with --no-color (ECMA-48 CSI).
_CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _plain(text: str) -> str:
    return _CSI.sub("", text)


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _line(entry: LevelRecord) -> str:
    if entry.result is None:
        return f"error: {'; '.join(entry.problems)[:300]}"
    f = entry.figures
    line = (f"{f['throughput_rps']:.1f} req/s, p50 {f['latency_p50_ms']:.0f} ms, p99 "
            f"{f['latency_p99_ms']:.0f} ms, peak {f['server_peak']}, {f['failures']} failed")
    if f.get("cpu_ms_per_request"):
        line += f", {f['cpu_ms_per_request']:.1f} ms CPU a request"
    return line


def run(ns: argparse.Namespace, out=lambda line: print(line, flush=True),
        on_start=lambda directory: None, **run_args) -> BenchRecord:
    """``python -m wsgilab advise``'s measuring part: read the declaration, prepare the app,
    measure it, and return the record (rendering is the CLI's).

    Args:
        ns: the parsed command line (``build_parser``).
        on_start: told the results directory once the record exists.
        run_args: passed to ``Run`` (a fake engine in the unit tests).

    Raises:
        AdviseError: the input cannot be measured (BAD_INPUT) or the app failed before any
            load (APP_FAILED); the record, if one was started, says so and is saved.
        KeyboardInterrupt, session.Interrupted: stopped by a signal (record saved, the
            lab and the app's project put back).
    """
    try:
        spec = declaration.load(ns.app)
        for name in [getattr(ns, "python", None), *_names(getattr(ns, "pythons", ""))]:
            if name:
                interpreters.get(name)
        swept = families.get(ns.sweep) if getattr(ns, "sweep", None) else None
    except (declaration.AppError, interpreters.UnknownPython, UnknownServer) as exc:
        raise AdviseError(str(exc), BAD_INPUT) from None
    if swept is not None and not swept.candidate:
        raise AdviseError(f"{ns.sweep} is not a production server family: nothing to sweep",
                          BAD_INPUT)
    if swept is not None and (ns.only or ns.light):
        raise AdviseError("--sweep measures its own configurations: not with --only or "
                          "--light", BAD_INPUT)
    advise = Advise(spec, ns, out, **run_args)
    on_start(advise.results_dir)
    try:
        advise.prepare()
        record = advise.execute()
    except AdviseError as exc:
        advise.record.status = f"stopped: {str(exc).splitlines()[0][:200]}"
        advise.record.save()
        raise
    link(advise.results_dir, "advise-latest")
    return record
