"""Command line: ``python -m wsgilab <command>``: up, down, bench, capacity, faults, advise,
python, pythons, report, compare, findings.

Measuring and presenting are separate steps: ``bench`` and ``faults`` write a record
(``bench.json``) through a lab session and then render it; ``report`` renders a record
again, and needs no Docker engine. Exit status: 0 done, 1 levels or outcomes missed their
expectation, 2 a usage error (nothing was sent), 128 + N stopped by signal N; ``advise``: 2
the app's input cannot be measured, 3 the app failed before any load.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

USAGE = ("usage: python -m wsgilab {up,down,bench,capacity,faults,advise,python,pythons,report,"
         "compare,findings} "
         "[options]\n"
         "       python -m wsgilab <command> --help")


def _render(directory: Path) -> None:
    """Render the record in ``directory`` (what a run gathered, even an interrupted one)."""
    from wsgilab import report
    from wsgilab.model.record import BenchRecord

    record = BenchRecord.load(directory)
    if record.levels or record.scenarios:
        report.write(record)
        print(f"\nreport: {directory / 'report.html'}")


def _stopped(exc: BaseException, directory: Path) -> int:
    """Render what an interrupted run gathered; the exit status for how it was stopped."""
    from wsgilab.lab.session import Interrupted

    print(f"\n{exc or 'interrupted'}: the lab is back as declared; what was measured is kept",
          file=sys.stderr)
    if (directory / "bench.json").exists():
        _render(directory)
    return exc.exit_status if isinstance(exc, Interrupted) else 130


def _bench(argv: list[str]) -> int:
    from wsgilab import report
    from wsgilab.lab import loadside
    from wsgilab.lab.compose import ComposeError
    from wsgilab.lab.session import Interrupted
    from wsgilab.studies import bench, options

    try:
        opts = options.parse(argv)
    except options.OptionError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    if opts.check:
        print(f"bench options ok: {len(opts.plan)} levels, about "
              f"{bench.fmt_duration(bench.estimate_s(opts, list(opts.plan)))}, "
              f"results in {opts.results_dir}")
        print("\n".join(f"  {i:>3}. {level.describe()}"
                        for i, level in enumerate(bench.grouped(opts.plan), 1)))
        return 0
    try:
        record = bench.run(opts)
    except (KeyboardInterrupt, Interrupted) as exc:
        return _stopped(exc, opts.results_dir)
    except loadside.LoadSideError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except ComposeError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print()
    print(report.text_table(record))
    _render(opts.results_dir)
    failed = [lv for lv in record.levels if not lv.passed]
    if failed:
        print(f"{len(failed)} of {len(record.levels)} levels did not pass", file=sys.stderr)
        return 1
    return 0


def _capacity(argv: list[str]) -> int:
    from wsgilab.lab import loadside
    from wsgilab.lab.session import Interrupted
    from wsgilab.studies import bench, options
    from wsgilab.studies import capacity as capacity_runner

    try:
        opts = capacity_runner.parse(argv)
    except options.OptionError as exc:
        print(f"capacity: {exc}", file=sys.stderr)
        return 2
    if opts.check:
        print(f"capacity options ok: {len(opts.services)} configurations x "
              f"{', '.join(opts.workloads)}, objective {opts.objective.describe()}, at most about "
              f"{bench.fmt_duration(capacity_runner.estimate_s(opts))}, results in {opts.results_dir}")
        return 0
    try:
        record = capacity_runner.run(opts)
    except (KeyboardInterrupt, Interrupted) as exc:
        return _stopped(exc, opts.results_dir)
    except loadside.LoadSideError as exc:
        print(f"capacity: {exc}", file=sys.stderr)
        return 1
    _render(opts.results_dir)
    errors = [c for c in record.capacities if "error" in c]
    if errors:
        print(f"{len(errors)} configuration(s) could not be measured", file=sys.stderr)
        return 1
    return 0


def _faults(argv: list[str]) -> int:
    """``faults [--light] [--only a,b] [--results DIR]``."""
    import datetime as dt

    from wsgilab.lab import compose
    from wsgilab.lab.session import Interrupted
    from wsgilab.studies import faults

    names = list(faults.registry())
    parser = argparse.ArgumentParser(prog="python -m wsgilab faults",
                                     description="When things go wrong: fault scenarios.")
    parser.add_argument("--light", action="store_true",
                        help="the short form the tests run (fewer configurations, smaller loads)")
    parser.add_argument("--only", default=",".join(names),
                        help=f"comma-separated scenarios (default: all of {', '.join(names)})")
    parser.add_argument("--results", type=Path, default=None,
                        help="directory for bench.json and the report (default: results/faults-<time>)")
    args = parser.parse_args(argv)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in names]
    if unknown or not chosen:
        print(f"faults: unknown scenario(s) {', '.join(unknown) or '(none given)'}; "
              f"known: {', '.join(names)}", file=sys.stderr)
        return 2
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    directory = args.results or compose.ROOT / "results" / f"faults-{stamp}"
    try:
        record = faults.run(chosen, directory, light=args.light)
    except (KeyboardInterrupt, Interrupted) as exc:
        return _stopped(exc, directory)
    latest = compose.ROOT / "results" / "faults-latest"
    if args.results is None:
        latest.unlink(missing_ok=True)
        latest.symlink_to(directory.name)
    _render(directory)
    failed = [(name, o["configuration"]) for name, entry in record.scenarios.items()
              for o in entry.get("outcomes", []) if not o["passed"]]
    errors = [name for name, entry in record.scenarios.items() if "error" in entry]
    if failed or errors:
        print(f"{len(failed)} outcome(s) missed their expectation, {len(errors)} scenario(s) "
              f"errored", file=sys.stderr)
        return 1
    return 0


def _report(argv: list[str]) -> int:
    from wsgilab import report
    from wsgilab.lab import compose
    from wsgilab.model.record import BenchRecord

    parser = argparse.ArgumentParser(
        prog="python -m wsgilab report",
        description="Render a run's report (report.html, report.md, the charts) from its "
                    "bench.json again. Needs no Docker engine.")
    parser.add_argument("results", nargs="?", type=Path,
                        default=compose.ROOT / "results" / "latest",
                        help="the run's directory (default: results/latest)")
    args = parser.parse_args(argv)
    try:
        record = BenchRecord.load(args.results)
    except (OSError, ValueError) as exc:
        print(f"report: no readable record in {args.results}: {exc}", file=sys.stderr)
        return 2
    report.write(record)
    if record.levels:
        print(report.text_table(record))
    print(f"\nreport: {args.results / 'report.html'}")
    return 0


def _compare(argv: list[str]) -> int:
    from tabulate import tabulate

    from wsgilab.model.record import BenchRecord
    from wsgilab.report import compare

    parser = argparse.ArgumentParser(
        prog="python -m wsgilab compare",
        description="Two runs side by side, changes flagged against their own noise.")
    parser.add_argument("a", type=Path, help="the first run's directory")
    parser.add_argument("b", type=Path, help="the second run's directory (the page goes there)")
    args = parser.parse_args(argv)
    a, b = (BenchRecord.load(p) for p in (args.a, args.b))
    changes = compare.compare(a, b)
    print(tabulate(compare.rows(changes), headers=compare.HEADERS, disable_numparse=True))
    out = b.directory / f"compare-{a.directory.name}.html"
    out.write_text(compare.page(a, b, changes))
    print(f"\n{sum(bool(c.flagged) for c in changes)} of {len(changes)} figures changed "
          f"beyond the runs' noise; page: {out}")
    return 0


def _findings(argv: list[str]) -> int:
    from wsgilab.report import findings

    argparse.ArgumentParser(
        prog="python -m wsgilab findings",
        description="Render docs/findings.md and its pictures, and the README's "
                    "recommendation, from the recorded runs in records/ (records/README.md). "
                    "Needs no Docker engine.").parse_args(argv)
    text = findings.render()
    print(f"{findings.PAGE.relative_to(findings.ROOT)}: {len(text.splitlines())} lines from "
          f"{', '.join(findings.load_sources())}")
    if findings.write_readme():
        print("README.md: the recommendation rendered from records/")
    return 0


def _advise(argv: list[str]) -> int:
    from wsgilab.lab.session import Interrupted
    from wsgilab.studies.advise import runner

    started: list[Path] = []
    try:
        return runner.main(argv, on_start=started.append)
    except (KeyboardInterrupt, Interrupted) as exc:
        if not started:
            return exc.exit_status if isinstance(exc, Interrupted) else 130
        return _stopped(exc, started[0])


def _stage(argv: list[str]) -> int:
    from wsgilab.lab import compose, images

    argparse.ArgumentParser(
        prog="python -m wsgilab stage",
        description="Stage the demo app for its images (build/apps/demo) and write nginx's "
                    "allow-list, so that plain `docker compose up` can build the lab.").parse_args(argv)
    try:
        where = compose.stage_demo()
    except images.RequirementConflict as exc:
        print(f"stage: {exc}", file=sys.stderr)
        return 2
    compose.write_allow_list()
    print(f"staged the demo app in {where.relative_to(compose.ROOT)}")
    return 0


def _up(argv: list[str]) -> int:
    from wsgilab.lab.session import LabSession

    argparse.ArgumentParser(
        prog="python -m wsgilab up",
        description="Build what is missing, start every service as declared (putting back "
                    "any that differs) and wait until all are healthy.").parse_args(argv)
    with LabSession():
        pass
    return 0


def _down(argv: list[str]) -> int:
    from wsgilab.lab import compose

    argparse.ArgumentParser(prog="python -m wsgilab down",
                            description="Stop and remove the lab's containers.").parse_args(argv)
    compose.down()
    return 0


def _python(argv: list[str]) -> int:
    from wsgilab.studies import python as python_bench

    return python_bench.main(argv)


def _pythons(argv: list[str]) -> int:
    import subprocess

    from wsgilab.lab import compose, pythons

    parser = argparse.ArgumentParser(
        prog="python -m wsgilab pythons",
        description="Build the declared interpreters (services/python/interpreters.toml), "
                    "cached, and the demo app's image on each.")
    parser.add_argument("names", nargs="*", help="interpreters (default: every one declared)")
    ns = parser.parse_args(argv)
    try:
        pythons.prepare(ns.names or list(pythons.declared()))
    except (pythons.UnknownPython, pythons.PythonNotBuilt) as exc:
        print(f"pythons: {exc}", file=sys.stderr)
        return 2
    except (subprocess.CalledProcessError, compose.ComposeError) as exc:
        print(f"pythons: a build failed: {exc}", file=sys.stderr)
        return 1
    for name in ns.names or pythons.declared():
        facts = pythons.staged_facts(pythons.get(name))
        left = {**facts.get("servers", {}).get("left_out", {}), **facts.get("app", {}).get("left_out", {})}
        print(f"{name}: {pythons.get(name).summary}"
              + (f"; left out: {', '.join(left)}" if left else ""))
    return 0


COMMANDS = {"up": _up, "down": _down, "bench": _bench, "capacity": _capacity, "faults": _faults,
            "advise": _advise, "python": _python, "pythons": _pythons,
            "report": _report, "compare": _compare, "findings": _findings, "stage": _stage}


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the process exit status (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv else "--help"
    if command in ("help", "-h", "--help"):
        print(USAGE)
        return 0
    if command not in COMMANDS:
        print(f"unknown command {command!r}\n{USAGE}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[command](argv)
    except SystemExit as exc:  # argparse: 0 after --help, 2 for a usage error
        return exc.code if isinstance(exc.code, int) else 2


if __name__ == "__main__":
    sys.exit(main())
