"""Command line: ``python -m wsgilab {up,down,bench,report}``."""

from __future__ import annotations

import sys
from pathlib import Path

from . import bench, compose, options, report
from .record import BenchRecord


def _plan_lines(opts: options.BenchOptions) -> list[str]:
    return [f"  {i:>3}. {level.describe()}" for i, level in enumerate(bench.grouped(opts.plan), 1)]


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
    print("usage: python -m wsgilab {up,down,bench [options],report [results-dir],compare A B}\n"
          "       python -m wsgilab bench --help", file=sys.stderr)
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
