"""The bench's options: parsed and checked completely before any load is sent."""

from __future__ import annotations

import argparse
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import compose
from .topology import DEFAULT_BASE_URL, declared_limits

#: The most VUs one level may use. nginx is sized for it (services/nginx/nginx.conf:
#: 2 connections per VU) and so is every configuration's pids limit (PIDS_HEADROOM).
MAX_VUS = 200
#: Tasks a container needs besides one thread per in-flight request: server processes,
#: their helper threads, the healthcheck's python. A pids limit below max VUs + this could
#: itself cap the threaded dev server, and the lab would measure the limit, not the server.
PIDS_HEADROOM = 32
#: Longest I/O wait per request the bench accepts, in ms. Keeps the drain of a queued
#: level (VUs x io_ms for the one-at-a-time server) within minutes.
MAX_IO_MS = 2_000
DEFAULT_VUS = (2, 10, 40)
DEFAULT_DURATION_S = 8
DEFAULT_WARMUP_S = 2
DEFAULT_IO_MS = 250
_LOOPBACK = re.compile(r"^http://127\.0\.0\.1:\d{1,5}$")


class OptionError(ValueError):
    """A bench option that cannot be run; raised before any load starts."""


@dataclass(frozen=True)
class BenchOptions:
    """One bench run. Durations in seconds, io_ms in milliseconds.

    Attributes:
        services: the configurations to measure, in order.
        vus: the load levels (closed-model virtual users), in order.
        duration_s: length of each level; warmup_s: its start, left out of the figures.
        io_ms: how long each request waits on (simulated) I/O in the app.
        base_url: the lab's front end; loopback only.
        results_dir: where summaries, raw samples and the report go.
        load_cpus: cores k6 is pinned to.
        raw: also keep every k6 sample (``--out json``, gzip).
        check: validate and print the plan only.
    """

    services: tuple[str, ...]
    vus: tuple[int, ...]
    duration_s: int = DEFAULT_DURATION_S
    warmup_s: int = DEFAULT_WARMUP_S
    io_ms: int = DEFAULT_IO_MS
    base_url: str = DEFAULT_BASE_URL
    results_dir: Path = field(default_factory=lambda: default_results_dir())
    load_cpus: frozenset[int] = frozenset({0})
    raw: bool = True
    check: bool = False

    @property
    def graceful_stop_s(self) -> int:
        """How long k6 lets in-flight requests finish after a level: enough for the
        slowest case, all VUs queued on a one-at-a-time server, plus 5 s."""
        return (max(self.vus) * self.io_ms) // 1000 + 5

    def levels(self) -> list[tuple[str, int]]:
        return [(service, vus) for service in self.services for vus in self.vus]


def default_results_dir() -> Path:
    return compose.ROOT / "results" / time.strftime("%Y%m%d-%H%M%S")


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part, 10) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}") from None
    return values


def _name_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wsgilab bench",
        description="Drive I/O-bound load through nginx at each configuration, one at a time, "
                    "and compare the concurrency it reaches with what its settings promise.")
    parser.add_argument("--services", type=_name_list,
                        help="comma-separated configurations (default: all)")
    parser.add_argument("--vus", type=_int_list, default=DEFAULT_VUS,
                        help=f"comma-separated VU levels (default: {','.join(map(str, DEFAULT_VUS))})")
    parser.add_argument("--duration", type=int, default=DEFAULT_DURATION_S, dest="duration_s",
                        help=f"seconds per level (default: {DEFAULT_DURATION_S})")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP_S, dest="warmup_s",
                        help=f"seconds at the start of a level left out of the figures (default: {DEFAULT_WARMUP_S})")
    parser.add_argument("--io-ms", type=int, default=DEFAULT_IO_MS,
                        help=f"milliseconds each request waits on I/O (default: {DEFAULT_IO_MS})")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL,
                        help=f"the lab's front end, on loopback only (default: {DEFAULT_BASE_URL})")
    parser.add_argument("--results", type=Path, dest="results_dir",
                        help="results directory (default: results/<timestamp>)")
    parser.add_argument("--load-cpus", type=_int_list, default=(0,),
                        help="cores to pin k6 to (default: 0; the configurations run on core 1)")
    parser.add_argument("--no-raw", dest="raw", action="store_false",
                        help="do not keep k6's raw samples")
    parser.add_argument("--check", action="store_true",
                        help="only check the options and print the plan; send no load")
    return parser


def parse(argv: list[str] | None = None) -> BenchOptions:
    """Parse and validate bench arguments.

    Raises:
        OptionError: any option the bench cannot run with, with the reason.
    """
    parser = build_parser()
    try:
        ns = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed the reason
        raise OptionError("invalid command line (see above)") from exc
    available = compose.configurations()
    opts = BenchOptions(
        services=ns.services or tuple(available),
        vus=ns.vus,
        duration_s=ns.duration_s,
        warmup_s=ns.warmup_s,
        io_ms=ns.io_ms,
        base_url=ns.base_url,
        results_dir=ns.results_dir or default_results_dir(),
        load_cpus=frozenset(ns.load_cpus),
        raw=ns.raw,
        check=ns.check,
    )
    validate(opts, available)
    return opts


def validate(opts: BenchOptions, available: list[str]) -> None:
    """Check ``opts`` against the lab's bounds and its compose model.

    Raises:
        OptionError: the first problem found.
    """
    unknown = [s for s in opts.services if s not in available]
    if unknown:
        raise OptionError(f"unknown configuration(s) {', '.join(unknown)}; "
                          f"known: {', '.join(available)}")
    if len(set(opts.services)) != len(opts.services):
        raise OptionError("a configuration is named twice in --services")
    if not opts.vus or any(not 1 <= v <= MAX_VUS for v in opts.vus):
        raise OptionError(f"--vus levels must be between 1 and {MAX_VUS}, got {list(opts.vus)}")
    if opts.duration_s < 2 or opts.duration_s > 600:
        raise OptionError(f"--duration must be 2..600 seconds, got {opts.duration_s}")
    if not 0 <= opts.warmup_s < opts.duration_s:
        raise OptionError(f"--warmup must be at least 0 and less than --duration "
                          f"({opts.duration_s} s), got {opts.warmup_s}")
    if not 1 <= opts.io_ms <= MAX_IO_MS:
        raise OptionError(f"--io-ms must be 1..{MAX_IO_MS}, got {opts.io_ms}")
    if not _LOOPBACK.match(opts.base_url):
        raise OptionError(f"--base-url must be http://127.0.0.1:<port> (load goes to loopback "
                          f"only), got {opts.base_url!r}")
    usable = os.sched_getaffinity(0)
    if not opts.load_cpus or not opts.load_cpus <= usable:
        raise OptionError(f"--load-cpus {sorted(opts.load_cpus)} not among this machine's "
                          f"cores {sorted(usable)}")
    for service in opts.services:
        pids = declared_limits(service).pids
        if pids < max(opts.vus) + PIDS_HEADROOM:
            raise OptionError(
                f"{service}'s pids limit ({pids}) leaves no room for {max(opts.vus)} VUs + "
                f"{PIDS_HEADROOM}: the limit, not the server, would cap a thread-per-request server")
    if opts.results_dir.exists() and any(opts.results_dir.iterdir()):
        raise OptionError(f"results directory {opts.results_dir} is not empty; "
                          "name a new one with --results")
