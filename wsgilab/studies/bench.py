"""``make bench``: every level of the plan, one at a time, with progress.

The plan (``studies.options``) is a list of levels: (configuration, workload, load),
sometimes under a variant (other limits, or another value of a setting the
configuration's command reads from a variable); the run's own ``--limits`` apply to every
level beneath the level's own. Levels of one configuration and variant run together, so
that each container is recreated once per variant. The loop is this module; how a level
is brought up, measured and recorded is the run's (``wsgilab.lab.run``).
"""

from __future__ import annotations

from wsgilab import workloads
from wsgilab.lab import compose
from wsgilab.lab.loadside import LoadSideError
from wsgilab.lab.probe import Probe
from wsgilab.lab.run import Run, base_image, estimate_s, fmt_duration, front_end_cpuset
from wsgilab.model.levels import Level, Variant
from wsgilab.model.record import BenchRecord
from wsgilab.studies.options import BenchOptions, OptionError, check_rates


def grouped(plan: tuple[Level, ...]) -> list[Level]:
    """The plan with the levels of one configuration and variant next to each other, in
    order of first appearance, so that each container is recreated once per variant (and
    repeat: repeats keep their own shuffled order)."""
    groups: dict[tuple[int, str, Variant], list[Level]] = {}
    for level in plan:
        groups.setdefault((level.repeat, level.configuration, level.variant), []).append(level)
    return [level for group in groups.values() for level in group]


def open_run(opts: BenchOptions, kind: str = "bench", **run_args) -> Run:
    """The run a bench plan runs in: its folder, options, pace, front end and roles."""
    run_args.setdefault("probe", Probe(opts.base_url))
    return Run(opts.results_dir, kind, opts.to_dict(), opts.pace, latest="latest",
               roles=compose.roles(), edge_cpuset=front_end_cpuset(), **run_args)


def run(opts: BenchOptions, out=lambda line: print(line, flush=True), kind: str = "bench",
        **run_args) -> BenchRecord:
    """Run every level of ``opts.plan`` and write its record, ``opts.results_dir``/bench.json.

    The run's session starts by putting every service back as declared, applies each
    level's variant, keeps the other configurations off a CPU-bound level's cores, reads
    each container back before its level, and puts everything back on the way out.
    Rendering the report is a separate step (``wsgilab.report.write``).

    Args:
        kind: what the run is (``python`` runs a plan of its own through here).
        run_args: passed to ``Run`` (a fake engine and measurer in the unit tests).

    Returns:
        the record (what ``bench.json`` holds). A configuration that cannot be started
        under a variant, and a level that fails, become ``error`` entries; the bench goes
        on.

    Raises:
        KeyboardInterrupt, session.Interrupted: Ctrl-C, SIGTERM or SIGHUP, after the
            record is saved and the lab put back.
        compose.ComposeError, session.Drift: the lab could not be started as declared.
        loadside.LoadSideError: an open level asks more than the load side drives.
    """
    plan = grouped(opts.plan)
    with open_run(opts, kind, out=out, **run_args) as lab:
        lab.describe_environment(base_image())
        lab.prepare_pythons({lv.variant.over(opts.limits).python for lv in plan})
        total = estimate_s(opts.pace, plan)
        out(f"bench: {len(plan)} levels ({', '.join(opts.workloads)}) over "
            f"{len({lv.configuration for lv in plan})} configurations, {opts.duration_s} s per "
            f"phase ({opts.warmup_s} s warm-up); about {fmt_duration(total)}")
        out(f"limits: {opts.limits.describe() if opts.limits else 'as declared in compose/app.yml'}; "
            f"results: {opts.results_dir}")
        rates = [lv.load.rate_rps for lv in plan if not lv.closed]
        if rates:  # what the load side can offer, measured before any open level
            try:
                check_rates(rates, lab.calibrate())
            except OptionError as exc:
                raise LoadSideError(str(exc)) from None
        for index, level in enumerate(plan, 1):
            workload = workloads.get(level.workload)
            lab.session.isolate(level.configuration, others=workload.isolated)
            cfg = lab.serving(level.configuration, level.variant)
            left = estimate_s(opts.pace, plan[index - 1:])
            if index > 1:  # scale the estimate by how the levels so far compared with theirs
                left *= lab.elapsed_s / max(1.0, estimate_s(opts.pace, plan[:index - 1]))
            lab.progress(index, len(plan), f"{level.describe()} for {opts.pace.seconds(level)} s",
                         left)
            lab.measure(level, cfg)
            if workload.restart_after and workload.restart_after(level):
                lab.restart(level.configuration)
    return lab.record
