"""A run: one record, one lab session, its status, and every level measured the same way.

Every study (bench, capacity, faults, advise, python) is a plan and a loop over a ``Run``:

    with Run(directory, "bench", options, pace) as run:
        for level in plan:
            cfg = run.serving(level.configuration, level.variant)
            run.measure(level, cfg)

The run owns the results folder and ``bench.json`` (saved after every level, so that a run
that fails or is interrupted keeps what it gathered), the lab session (every change undone
on any way out, every start reconciled), the status the record ends with, the progress
lines, and the load side's calibration. Nothing here renders: the CLI renders a record.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import gevent

from wsgilab import workloads
from wsgilab.lab import compose, k6, loadside, pythons
from wsgilab.lab.compose import ComposeError
from wsgilab.lab.engine import DockerEngine, Engine, EngineError
from wsgilab.lab.measure import FRONT_END, Pace, level_line, measure_level
from wsgilab.lab.probe import Probe
from wsgilab.lab.session import Drift, Interrupted, LabSession, NotServing
from wsgilab.model import interpreters
from wsgilab.model.facts import Configuration
from wsgilab.model.levels import Level, Variant
from wsgilab.model.record import BenchRecord, LevelRecord

#: Seconds a level needs besides its duration (k6 start, health probes, container stats),
#: for the time-left estimate before the first level has been timed.
LEVEL_OVERHEAD_S = 2.0
#: Seconds a recreation of a container under a variant takes, for the estimate.
RECREATE_ESTIMATE_S = 4.0

#: ``(level, cfg, containers) -> LevelRecord``: how a run measures one level
#: (``measure_level`` by default; a fake in the studies' unit tests).
Measurer = Callable[[Level, Configuration, tuple[str, ...]], LevelRecord]


def now() -> str:
    """The time now, ISO 8601 UTC, to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def fmt_duration(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``9`` -> ``9s``."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def estimate_s(pace: Pace, levels: list[Level]) -> float:
    """Seconds ``levels`` should take: their phases, overhead and recreations."""
    groups = {(lv.configuration, lv.variant) for lv in levels}
    total = sum(1 for _, variant in groups if variant) * 2 * RECREATE_ESTIMATE_S
    return total + sum(pace.seconds(lv) + LEVEL_OVERHEAD_S for lv in levels)


def environment(engine: Engine, base_image: str | None) -> dict:
    """Where the run happens: base image, engine, cgroup version, k6, host."""
    return {
        # The seed blog's gevent.monkey_patch(): checked on the gevent the images pin.
        "gevent_version": gevent.__version__,
        "gevent_has_monkey_patch": hasattr(gevent, "monkey_patch"),
        "base_image": base_image,
        **engine.describe(),
        "k6": k6.version(),
        "host_cpus": os.cpu_count(),
        "host_python": platform.python_version(),
    }


class Run:
    """One run of the lab (a context manager): its record, its session, its levels.

    Args:
        directory: the results folder (created); ``bench.json`` goes there.
        kind: what the run is (``bench``, ``capacity``, ``faults``, ``advise``, ``python``),
            recorded in its options.
        options: the study's options as plain data, recorded.
        pace: how every level is run.
        engine: the container engine (``DockerEngine()`` by default).
        probe: the configurations' instrument through the front end.
        out: where progress goes.
        reconcile: start by putting the lab back as declared (a session that only moves a
            lab it did not start aside: False).
        latest: the name of the link beside ``directory`` that points at it at the end
            (``results/latest``), or None.
        measurer: how a level is measured (``measure_level`` by default).

    Attributes:
        record: what the run gathered; session: the lab session; roles: the compose
            model's roles, recorded.
    """

    def __init__(self, directory: Path, kind: str, options: dict, pace: Pace,
                 engine: Engine | None = None, probe: Probe | None = None,
                 out: Callable[[str], None] = lambda line: print(line, flush=True),
                 reconcile: bool = True, latest: str | None = None,
                 measurer: Measurer | None = None, roles: dict | None = None,
                 edge_cpuset: str | None = None) -> None:
        self.directory, self.pace, self.out, self.latest = Path(directory), pace, out, latest
        self.engine = engine or DockerEngine()
        self.probe = probe or Probe()
        self.session = LabSession(self.engine, self.probe, out, edge_cpuset=edge_cpuset,
                                  reconcile_on_enter=reconcile)
        self.record = BenchRecord(started=now(), options={**options, "kind": kind},
                                  environment={}, roles=roles if roles is not None else {})
        self._measurer = measurer
        self._serving: dict[tuple[str, Variant], Configuration | NotServing] = {}
        self._started = time.monotonic()

    # --- the run's life -------------------------------------------------------------
    def __enter__(self) -> Run:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.record.save(self.directory / "bench.json")
        self.record.status = "failed"
        self.session.__enter__()
        self.record.environment["reconciled"] = self.session.reconciled
        self.record.save()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.record.status = "complete" if self.record.status == "failed" else self.record.status
        elif issubclass(exc_type, KeyboardInterrupt):
            self.record.status = "interrupted (SIGINT)"
        elif issubclass(exc_type, Interrupted):
            self.record.status = f"interrupted ({exc})"
        try:
            self.session.__exit__(exc_type, exc, tb)
        except Interrupted as late:  # a signal while the lab was put back
            self.record.status = f"interrupted ({late})"
            raise
        finally:
            self.record.environment["restored"] = self.session.restored
            self.record.finished = now()
            self.record.save()
            if self.latest:
                link(self.directory, self.latest)

    def describe_environment(self, base_image: str | None) -> None:
        """Record where the run happens (``environment``)."""
        self.record.environment.update(environment(self.engine, base_image))
        self.record.save()

    # --- what a run offers its study ------------------------------------------------
    def prepare_pythons(self, names: set[str | None]) -> None:
        """Build what the interpreters ``names`` (None: the base image's) lack, cached:
        image builds before any level, not the levels' time; and record what each
        staged (``BenchRecord.pythons``).

        Raises:
            compose.ComposeError: an interpreter or its app image could not be built.
        """
        names = sorted(names - {None})
        if not names:
            return
        try:
            pythons.prepare(names, self.out)
        except (subprocess.CalledProcessError, pythons.PythonNotBuilt) as exc:
            raise compose.ComposeError(f"Python {', '.join(names)} could not be prepared: "
                                       f"{exc}") from None
        for name in names:
            self.record.pythons[name] = pythons.staged_facts(interpreters.get(name))
        self.record.save()

    def calibrate(self) -> loadside.Calibration:
        """Measure what the load side can drive (``loadside.calibrate``), keep it for the
        options' checks, and record it.

        Raises:
            loadside.LoadSideError: the load side could not be calibrated.
        """
        calibration = loadside.calibrate(self.directory, self.probe.base_url,
                                         self.pace.load_cpus, self.out)
        loadside.keep(calibration)
        self.record.load_side = calibration.to_dict()
        self.record.save()
        return calibration

    def serving(self, service: str, variant: Variant = Variant(),
                launch: bool = False) -> Configuration | NotServing:
        """``service`` under ``variant`` over the run's own limits, applied, idle and read
        back (``LabSession.serving``), once per (service, variant) until it changes; a
        ``NotServing`` (returned, not raised) when it cannot be measured, said once."""
        variant = variant.over(self.pace.limits)
        key = (service, variant)
        # An engine that deploys one configuration at a time removed it for another's.
        launch = launch or (self.engine.deploys_on_demand and key in self._serving
                            and self.engine.running(service) is None)
        if key not in self._serving or launch:
            try:
                cfg = self.session.serving(service, variant, launch=launch)
            except NotServing as exc:
                self.out(f"{service} ({variant.describe()}): cannot be measured: {exc}")
                # Its container no longer runs what an earlier reading says: read it back
                # under any other variant, as after a change that succeeded.
                self.forget(service)
                self._serving[key] = exc
            else:
                self.out(f"{service}: {' '.join(cfg.command)}  |  {cfg.limits.describe()}  |  "
                         f"cap {cfg.capacity.formula}")
                self.forget(service)
                self._serving[key] = cfg
        return self._serving[key]

    def forget(self, service: str) -> None:
        """``service`` was changed behind ``serving``'s back (retired, restarted): read it
        back again next time."""
        self._serving = {k: v for k, v in self._serving.items() if k[0] != service}

    def measure(self, level: Level, cfg: Configuration | NotServing | None = None,
                containers: tuple[str, ...] = (), pace: Pace | None = None,
                folder: str = "", keep: bool = True) -> LevelRecord:
        """Run ``level`` (``measure_level``) on ``cfg`` (``serving``'s, by default) after
        reading its container back against its variant, record it, save the record and
        say its line.

        Args:
            containers: services whose CPU the level records besides the workload's own
                (an app's backends).
            pace: this level's own durations (a fault scenario's), else the run's.
            folder: a subfolder of the run's for the level's files (a scenario's name).
            keep: add it to the record's levels (a fault scenario's levels are its
                outcome's evidence, not levels the claims read: False).
        """
        if cfg is None:
            cfg = self.serving(level.configuration, level.variant)
        variant = level.variant.over(self.pace.limits)
        if isinstance(cfg, NotServing):
            entry = LevelRecord(level, problems=[f"NotServing: {cfg}"])
        else:
            try:
                self.session.require(tuple(dict.fromkeys(
                    workloads.get(level.workload).containers + containers)))
                self.session.verify(level.configuration, variant)
            except (ComposeError, EngineError) as exc:
                entry = LevelRecord(level, configuration=cfg,
                                    problems=[f"{type(exc).__name__}: its backends: {exc}"])
            except Drift as exc:
                entry = LevelRecord(level, configuration=cfg, problems=[f"Drift: {exc}"])
            else:
                entry = self._measure(level, cfg, containers, pace or self.pace, folder)
                if entry.usage is not None:
                    entry.usage["others_moved_off_its_cores"] = len(self.session.moved)
        if keep:
            self.record.levels.append(entry)
            self.record.save()
        self.out("         " + level_line(entry))
        return entry

    def _measure(self, level: Level, cfg: Configuration, containers: tuple[str, ...],
                 pace: Pace, folder: str) -> LevelRecord:
        if self._measurer is not None:
            return self._measurer(level, cfg, containers)
        entry = measure_level(level, cfg, pace=pace, directory=self.directory / folder,
                              probe=self.probe, containers=containers)
        if folder and entry.summary:
            entry.summary = f"{folder}/{entry.summary}"
        return entry

    def restart(self, service: str) -> None:
        """Restart ``service``'s container (its limits and settings unchanged, as a deploy
        would) and wait until it answers and is idle again; a failure shows in the next
        level that needs it."""
        self.out(f"         {service}: restarted, dropping what the level left in its processes")
        try:
            self.session.restart(service)
            self.probe.wait_reachable(service, timeout_s=compose.RECREATE_TIMEOUT_S)
            self.probe.wait_idle(service)
        except (RuntimeError, ConnectionError, TimeoutError):
            pass
        self.forget(service)

    def progress(self, index: int, total: int, text: str, left_s: float) -> None:
        """``  [ 3/47] gunicorn-sync io at 40 VUs for 5 s (about 6m10s left)``."""
        self.out(f"  [{index:>2}/{total}] {text} (about {fmt_duration(left_s)} left)")

    @property
    def elapsed_s(self) -> float:
        """Seconds since the run began."""
        return time.monotonic() - self._started


def link(directory: Path, name: str) -> None:
    """``<results>/<name>`` pointing at ``directory``: the last run of its kind."""
    latest = directory.parent / name
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(directory.name)
    except OSError:
        pass  # a convenience only


def front_end_cpuset() -> str:
    """The front end's cores (compose model): where ``isolate`` moves the others."""
    return str(compose.config()["services"][FRONT_END]["cpuset"])


def base_image() -> str:
    """The lab's base image (the one switch, ``BASE_IMAGE`` in .env)."""
    return compose.config()["services"][FRONT_END]["build"]["args"]["BASE_IMAGE"]


__all__ = ["Run", "Pace", "Measurer", "NotServing", "estimate_s", "fmt_duration", "now",
           "link", "front_end_cpuset", "base_image"]
