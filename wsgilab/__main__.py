"""Command line: ``python -m wsgilab {up,down,bench,faults,report,compare}``."""

from __future__ import annotations

import sys
from pathlib import Path

from . import bench, compose, options, report
from .record import BenchRecord


def _plan_lines(opts: options.BenchOptions) -> list[str]:
    return [f"  {i:>3}. {level.describe()}" for i, level in enumerate(bench.grouped(opts.plan), 1)]


def _faults(argv: list[str]) -> int:
    """``faults [--light] [--only a,b] [--results DIR]``: 0 all passed, 1 not, 2 usage."""
    import argparse
    import datetime as dt

    from . import faults

    names = list(faults.registry())
    parser = argparse.ArgumentParser(prog="python -m wsgilab faults",
                                     description="When things go wrong: fault scenarios.")
    parser.add_argument("--light", action="store_true",
                        help="the short form the tests run (fewer configurations, smaller loads)")
    parser.add_argument("--only", default=",".join(names),
                        help=f"comma-separated scenarios (default: all of {', '.join(names)})")
    parser.add_argument("--results", type=Path, default=None,
                        help="directory for bench.json and the report (default: results/faults-<time>)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    chosen = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in names]
    if unknown or not chosen:
        print(f"faults: unknown scenario(s) {', '.join(unknown) or '(none given)'}; "
              f"known: {', '.join(names)}", file=sys.stderr)
        return 2
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    directory = args.results or compose.ROOT / "results" / f"faults-{stamp}"
    record = faults.run(chosen, directory, light=args.light)
    latest = compose.ROOT / "results" / "faults-latest"
    if args.results is None:
        latest.unlink(missing_ok=True)
        latest.symlink_to(directory.name)
    failed = [(name, o["configuration"]) for name, entry in record.scenarios.items()
              for o in entry.get("outcomes", []) if not o["passed"]]
    errors = [name for name, entry in record.scenarios.items() if "error" in entry]
    print(f"\nreport: {directory / 'report.html'}")
    if failed or errors:
        print(f"{len(failed)} outcome(s) missed their expectation, {len(errors)} scenario(s) "
              f"errored", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the process exit status (0 ok, 1 levels failed, 2 usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv else "help"
    if command == "up":
        compose.up()
        return 0
    if command == "down":
        compose.down()
        return 0
    if command == "bench":
        try:
            opts = options.parse(argv)
        except options.OptionError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 2
        if opts.check:
            print(f"bench options ok: {len(opts.plan)} levels, about "
                  f"{bench.fmt_duration(bench.estimate_s(opts, list(opts.plan)))}, "
                  f"results in {opts.results_dir}")
            print("\n".join(_plan_lines(opts)))
            return 0
        record = bench.run(opts)
        print()
        print(report.text_table(record))
        print(f"\nreport: {opts.results_dir / 'report.html'}")
        failed = [lv for lv in record.levels if not lv.passed]
        if failed:
            print(f"{len(failed)} of {len(record.levels)} levels did not pass", file=sys.stderr)
            return 1
        return 0
    if command == "faults":
        return _faults(argv)
    if command == "report":
        results_dir = Path(argv[0]) if argv else compose.ROOT / "results" / "latest"
        record = BenchRecord.load(results_dir)
        report.write(record)
        print(report.text_table(record))
        print(f"\nreport: {results_dir / 'report.html'}")
        return 0
    if command == "compare":
        if len(argv) != 2:
            print("usage: python -m wsgilab compare RUN_A RUN_B", file=sys.stderr)
            return 2
        from tabulate import tabulate

        from .report import compare

        a, b = (BenchRecord.load(p) for p in argv)
        changes = compare.compare(a, b)
        print(tabulate(compare.rows(changes), headers=compare.HEADERS, disable_numparse=True))
        out = b.directory / f"compare-{a.directory.name}.html"
        out.write_text(compare.page(a, b, changes))
        print(f"\n{sum(bool(c.flagged) for c in changes)} of {len(changes)} figures changed "
              f"beyond the runs' noise; page: {out}")
        return 0
    print("usage: python -m wsgilab {up,down,bench [options],faults [options],report [results-dir],"
          "compare A B}\n"
          "       python -m wsgilab bench --help", file=sys.stderr)
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
