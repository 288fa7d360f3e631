"""Command line: ``python -m wsgilab <command>``: up, down, bench, capacity, faults, advise,
python, pythons, report, compare, findings, stage, k8s, swarm.

The top of the lab: each command parses its options, runs its study (``wsgilab.studies``),
which writes a record (``bench.json``), and renders that record (``wsgilab.report``); only
this module renders. ``report`` renders a record again, and needs no Docker engine.

Exit status: 0 done, 1 levels or outcomes missed their expectation, 2 a usage error
(nothing was sent), 128 + N stopped by signal N; ``advise``: 2 the app's input cannot be
measured, 3 the app failed before any load; ``k8s``, ``swarm``: 2 a model or record that
cannot be rendered.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tabulate import tabulate

from wsgilab import report
from wsgilab.lab import compose, images, kubernetes, loadside, pythons, swarm
from wsgilab.lab.compose import ComposeError
from wsgilab.lab.engine import EngineError, SwarmEngine
from wsgilab.lab.run import estimate_s, fmt_duration, link
from wsgilab.lab.session import Interrupted, LabSession
from wsgilab.model import interpreters
from wsgilab.model.paths import ROOT, relative
from wsgilab.model.record import BenchRecord
from wsgilab.report import advice as advice_report
from wsgilab.report import compare as compare_report
from wsgilab.report import findings
from wsgilab.report import pythons as python_report
from wsgilab.studies import bench, faults, options
from wsgilab.studies import capacity as capacity_study
from wsgilab.studies import python as python_study
from wsgilab.studies.advise import runner as advise_study

USAGE = ("usage: python -m wsgilab {up,down,bench,capacity,faults,advise,python,pythons,report,"
         "compare,findings,stage,k8s,swarm} [options]\n"
         "       python -m wsgilab <command> --help")
#: Where progress lines go: printed as they come, even into a file.
Out = Callable[[str], None]


def _say(line: str) -> None:
    print(line, flush=True)


def render(directory: Path, out: Out = _say) -> None:
    """Render the record in ``directory`` (what a run gathered, even an interrupted one)."""
    record = BenchRecord.load(directory)
    if record.levels or record.scenarios or (record.advice or {}).get("results"):
        report.write(record)
        out(f"\nreport: {directory / 'report.html'}")


def stopped(exc: BaseException, directory: Path) -> int:
    """Render what an interrupted run gathered; the exit status for how it was stopped."""
    print(f"\n{exc or 'interrupted'}: the lab is back as declared; what was measured is kept",
          file=sys.stderr)
    if (directory / "bench.json").exists():
        render(directory)
    return exc.exit_status if isinstance(exc, Interrupted) else 130


def levels_missed(record: BenchRecord) -> int:
    """1 (and a line on stderr) when a level did not pass, else 0."""
    failed = [lv for lv in record.levels if not lv.passed]
    if failed:
        print(f"{len(failed)} of {len(record.levels)} levels did not pass", file=sys.stderr)
        return 1
    return 0


def _bench(argv: list[str]) -> int:
    try:
        opts = options.parse(argv)
    except options.OptionError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    for described, why in opts.skipped:
        print(f"bench: skipped on {opts.engine}: {described}: {why}", file=sys.stderr)
    if opts.check:
        print(f"bench options ok: {len(opts.plan)} levels, about "
              f"{fmt_duration(estimate_s(opts.pace, list(opts.plan)))}, "
              f"results in {opts.results_dir}")
        print("\n".join(f"  {i:>3}. {level.describe()}"
                        for i, level in enumerate(bench.grouped(opts.plan), 1)))
        return 0
    try:
        record = bench.run(opts, **({"engine": SwarmEngine()} if opts.engine == "swarm" else {}))
    except (KeyboardInterrupt, Interrupted) as exc:
        return stopped(exc, opts.results_dir)
    except loadside.LoadSideError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except (ComposeError, EngineError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print()
    print(report.text_table(record))
    render(opts.results_dir)
    return levels_missed(record)


def _capacity(argv: list[str]) -> int:
    try:
        opts = capacity_study.parse(argv)
    except options.OptionError as exc:
        print(f"capacity: {exc}", file=sys.stderr)
        return 2
    if opts.check:
        print(f"capacity options ok: {len(opts.services)} configurations x "
              f"{', '.join(opts.workloads)}, objective {opts.objective.describe()}, at most about "
              f"{fmt_duration(capacity_study.estimate_s(opts))}, results in {opts.results_dir}")
        return 0
    try:
        record = capacity_study.run(opts)
    except (KeyboardInterrupt, Interrupted) as exc:
        return stopped(exc, opts.results_dir)
    except loadside.LoadSideError as exc:
        print(f"capacity: {exc}", file=sys.stderr)
        return 1
    render(opts.results_dir)
    errors = [c for c in record.capacities if "error" in c]
    if errors:
        print(f"{len(errors)} configuration(s) could not be measured", file=sys.stderr)
        return 1
    return 0


def _faults(argv: list[str]) -> int:
    """``faults [--light] [--only a,b] [--results DIR]``."""
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
    directory = args.results or ROOT / "results" / f"faults-{stamp}"
    try:
        record = faults.run(chosen, directory, light=args.light)
    except (KeyboardInterrupt, Interrupted) as exc:
        return stopped(exc, directory)
    if args.results is None:
        link(directory, "faults-latest")
    render(directory)
    failed = [(name, o["configuration"]) for name, entry in record.scenarios.items()
              for o in entry.get("outcomes", []) if not o["passed"]]
    errors = [name for name, entry in record.scenarios.items() if "error" in entry]
    if failed or errors:
        print(f"{len(failed)} outcome(s) missed their expectation, {len(errors)} scenario(s) "
              f"errored", file=sys.stderr)
        return 1
    return 0


def advise(argv: list[str], out: Out = _say, **run_args) -> int:
    """``advise APP [--light] [--only a,b] [--smoke] [--python NAME] [--pythons A,B]
    [--results DIR] [--keep]``: measure, record, render the page, print the recommendation.

    Args:
        out: where progress and the summary go.
        run_args: passed to the run (a fake engine in the unit tests).

    Returns:
        the exit status: 0 a record with a recommendation (or the smoke pass only);
        ``advise_study.BAD_INPUT``; ``advise_study.APP_FAILED``; 128 + N on signal N.
    """
    ns = advise_study.build_parser().parse_args(argv)
    started: list[Path] = []
    try:
        record = advise_study.run(ns, out, on_start=started.append, **run_args)
    except advise_study.AdviseError as exc:
        out(f"advise: {exc}")
        return exc.status
    except (KeyboardInterrupt, Interrupted) as exc:
        if not started:
            return exc.exit_status if isinstance(exc, Interrupted) else 130
        return stopped(exc, started[0])
    if record.advice.get("results"):
        report.write(record)
        out(f"report: {record.directory / 'report.html'}")
    out(advice_report.text(record))
    return 0


def _python(argv: list[str]) -> int:
    """``python [--pythons a,b] [--light] [--results DIR] [--check]``."""
    try:
        opts, names = python_study.parse(argv)
    except options.OptionError as exc:
        print(f"python: {exc}", file=sys.stderr)
        return 2
    built = sorted({lv.variant.python for lv in opts.plan} - {None})
    if opts.check:
        print(f"python bench ok: {len(opts.plan)} levels on {', '.join(built) or 'the base Python'}, "
              f"about {fmt_duration(estimate_s(opts.pace, list(opts.plan)))} once built")
        print("\n".join(f"  {i:>3}. {lv.describe()}" for i, lv in enumerate(bench.grouped(opts.plan), 1)))
        return 0
    try:
        record = python_study.run(opts, names)
    except (KeyboardInterrupt, Interrupted) as exc:
        return stopped(exc, opts.results_dir)
    except ComposeError as exc:
        print(f"python: {exc}", file=sys.stderr)
        return 1
    print()
    print(report.text_table(record))
    print()
    print(python_report.cpu_table(record))
    for table in (python_report.ratio_table(record), python_report.single_thread_table(record),
                  python_report.install_table(record)):
        if table:
            print()
            print(table)
    report.write(record)
    print(f"\nreport: {opts.results_dir / 'report.html'}")
    return levels_missed(record)


def _report(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wsgilab report",
        description="Render a run's report (report.html, report.md, the charts) from its "
                    "bench.json again. Needs no Docker engine.")
    parser.add_argument("results", nargs="?", type=Path, default=ROOT / "results" / "latest",
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
    parser = argparse.ArgumentParser(
        prog="python -m wsgilab compare",
        description="Two runs side by side, changes flagged against their own noise: the "
                    "figures of every case, and the verdicts of the claims.")
    parser.add_argument("a", type=Path, help="the first run's directory")
    parser.add_argument("b", type=Path, help="the second run's directory (the page goes there)")
    args = parser.parse_args(argv)
    a, b = (BenchRecord.load(p) for p in (args.a, args.b))
    changes = compare_report.compare(a, b)
    print(tabulate(compare_report.rows(changes), headers=compare_report.HEADERS,
                   disable_numparse=True))
    verdicts = compare_report.verdict_changes(a, b)
    if verdicts:
        print("\n" + tabulate(compare_report.verdict_rows(verdicts),
                              headers=compare_report.VERDICT_HEADERS, disable_numparse=True))
    out = b.directory / f"compare-{a.directory.name}.html"
    out.write_text(compare_report.page(a, b, changes, verdicts))
    real = sum(v.kind == compare_report.REAL for v in verdicts)
    print(f"\n{sum(bool(c.flagged) for c in changes)} of {len(changes)} figures changed "
          f"beyond the runs' noise; {len(verdicts)} verdicts changed, {real} outside the "
          f"spread; page: {out}")
    return 0


def _findings(argv: list[str]) -> int:
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


def _stage(argv: list[str]) -> int:
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
    print(f"staged the demo app in {where.relative_to(ROOT)}")
    return 0


def _up(argv: list[str]) -> int:
    argparse.ArgumentParser(
        prog="python -m wsgilab up",
        description="Build what is missing, start every service as declared (putting back "
                    "any that differs) and wait until all are healthy.").parse_args(argv)
    with LabSession():
        pass
    return 0


def _down(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="python -m wsgilab down",
                            description="Stop and remove the lab's containers.").parse_args(argv)
    compose.down()
    return 0


def _pythons(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wsgilab pythons",
        description="Build the declared interpreters (services/python/interpreters.toml), "
                    "cached, and the demo app's image on each.")
    parser.add_argument("names", nargs="*", help="interpreters (default: every one declared)")
    ns = parser.parse_args(argv)
    try:
        pythons.prepare(ns.names or list(interpreters.declared()))
    except (interpreters.UnknownPython, pythons.PythonNotBuilt) as exc:
        print(f"pythons: {exc}", file=sys.stderr)
        return 2
    except (subprocess.CalledProcessError, ComposeError) as exc:
        print(f"pythons: a build failed: {exc}", file=sys.stderr)
        return 1
    for name in ns.names or interpreters.declared():
        facts = pythons.staged_facts(interpreters.get(name))
        left = {**facts.get("servers", {}).get("left_out", {}), **facts.get("app", {}).get("left_out", {})}
        print(f"{name}: {interpreters.get(name).summary}"
              + (f"; left out: {', '.join(left)}" if left else ""))
    return 0


def _cluster_options(parser: argparse.ArgumentParser, name: str, what: str, layout: str) -> None:
    """The options ``k8s`` and ``swarm`` share: ``--out`` (results/<name>, holding
    ``layout``) and ``--load-instances`` (``what`` the load is split into)."""
    parser.add_argument("--out", type=Path, default=ROOT / "results" / name,
                        help=f"where to write them (default: results/{name}): {layout}")
    parser.add_argument("--load-instances", type=int, default=kubernetes.DEFAULT_LOAD_INSTANCES,
                        metavar="N", help=f"{what} the load is split into, one k6 execution "
                                          f"segment each (default {kubernetes.DEFAULT_LOAD_INSTANCES})")


def _cluster_args(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed; a usage error (exit 2) for fewer than one load instance."""
    args = parser.parse_args(argv)
    if args.load_instances < 1:
        parser.error(f"--load-instances must be at least 1, got {args.load_instances}")
    return args


def _k8s(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wsgilab k8s",
        description="Kubernetes manifests (docs/clusters.md) of the lab's configurations, read "
                    "from the compose model (`docker compose config`: the docker CLI and its "
                    "compose plugin, no engine), and of advise recommendations, read from their "
                    "records (no Docker at all): a Guaranteed Deployment, Service and ConfigMap "
                    "each, and the load as an Indexed Job split into k6 execution segments.")
    _cluster_options(parser, "k8s", "pods", "lab/ and advise-<app>/")
    parser.add_argument("--advise", type=Path, action="append", default=[], metavar="RECORD_DIR",
                        help="an advise run's folder (its bench.json), e.g. records/advise-shop; "
                             "may be given again")
    parser.add_argument("--no-lab", action="store_true",
                        help="only the advise recommendations (needs no Docker CLI)")
    parser.add_argument("--registry", metavar="PREFIX",
                        help="pull the lab's images from PREFIX/<image> (e.g. registry.example/team)")
    parser.add_argument("--k6-image", default=kubernetes.K6_IMAGE,
                        help=f"k6's image for the load pods (default {kubernetes.K6_IMAGE})")
    args = _cluster_args(parser, argv)
    if args.no_lab and not args.advise:
        parser.error("--no-lab renders nothing without --advise RECORD_DIR")
    options = {"registry": args.registry, "instances": args.load_instances, "k6_image": args.k6_image}
    rendered: list[tuple[Path, kubernetes.Bundle]] = []
    if not args.no_lab:
        try:
            bundle = kubernetes.lab(compose.config(), **options)
        except (ComposeError, OSError) as exc:
            print(f"k8s: the lab's compose model cannot be read ({exc}); `--no-lab --advise "
                  "RECORD_DIR` renders a recommendation without Docker", file=sys.stderr)
            return 2
        except ValueError as exc:
            print(f"k8s: {exc}", file=sys.stderr)
            return 2
        where = args.out / "lab"
        kubernetes.write(bundle, where, "the lab's compose model (docker-compose.yml)")
        rendered.append((where, bundle))
    for folder in args.advise:
        try:
            record = BenchRecord.load(folder)
            bundle = kubernetes.advise(record, **options)
        except (OSError, ValueError, KeyError) as exc:
            print(f"k8s: {folder}: {exc}", file=sys.stderr)
            return 2
        where = args.out / f"advise-{record.advice['app']['name']}"
        kubernetes.write(bundle, where, relative(record.path))
        rendered.append((where, bundle))
    for where, bundle in rendered:
        shown = relative(where)
        deployments = [d["metadata"]["name"] for docs in bundle.values() for d in docs
                       if d.get("kind") == "Deployment"]
        jobs = sorted(f for f in bundle if f.startswith("load/"))
        print(f"{shown}: {len(deployments)} Deployment(s) ({', '.join(deployments)}), "
              f"{len(jobs)} load Job(s) of {args.load_instances} pod(s) in {shown}/load/")
        print(f"  kubectl apply -k {shown}"
              + (f"    then, once rolled out: kubectl apply -f {shown}/{jobs[0]}" if jobs else ""))
    print(f"manifests of this shape are validated offline against Kubernetes "
          f"{kubernetes.KUBERNETES_VERSION} (tests/unit/test_kubernetes.py); docs/clusters.md "
          "says how to apply them and what differs on a cluster")
    return 0


def _swarm(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wsgilab swarm",
        description="Docker Swarm stack files (docs/clusters.md) of the lab's configurations, "
                    "read from the compose model (`docker compose config`: the docker CLI and "
                    "its compose plugin, no engine): every service with its limits as limits "
                    "and reservations, placed by node label, nothing published; and per "
                    "configuration its load, k6 as a replicated service split into execution "
                    "segments by task slot.")
    _cluster_options(parser, "swarm", "tasks", "stack.yml and load/<configuration>.yml")
    parser.add_argument("--build", action="store_true",
                        help=f"also build the load image ({swarm.LOAD_IMAGE}: the front end's "
                             "image with k6 and the lab's scripts; needs `make up`'s images)")
    args = _cluster_args(parser, argv)
    try:
        model = compose.config()
        stack = swarm.stack(model)
    except (ComposeError, OSError) as exc:
        print(f"swarm: the lab's compose model cannot be read ({exc})", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"swarm: {exc}", file=sys.stderr)
        return 2
    swarm.write(stack, args.out / "stack.yml")
    for name, document in swarm.loads(model, stack, args.load_instances).items():
        swarm.write(document, args.out / "load" / f"{name}.yml")
    if args.build:
        try:
            print(f"swarm: built {swarm.build_load_image()}")
        except (RuntimeError, OSError) as exc:
            print(f"swarm: {exc}", file=sys.stderr)
            return 2
    shown = relative(args.out)
    print(f"{shown}/stack.yml: {len(stack['services'])} services; {shown}/load/: "
          f"{len(swarm.configurations(model))} load stacks of {args.load_instances} k6 task(s)")
    for name, left in swarm.left_out(model).items():
        print(f"  {name}: left out {', '.join(sorted(left))}")
    print(f"  docker stack deploy --resolve-image never -c {shown}/stack.yml {swarm.STACK}    "
          f"then, once healthy: docker stack deploy --resolve-image never -c "
          f"{shown}/load/<configuration>.yml {swarm.STACK}-load")
    return 0


COMMANDS = {"up": _up, "down": _down, "bench": _bench, "capacity": _capacity, "faults": _faults,
            "advise": advise, "python": _python, "pythons": _pythons,
            "report": _report, "compare": _compare, "findings": _findings, "stage": _stage,
            "k8s": _k8s, "swarm": _swarm}


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
