"""The Python comparison of a ``make bench-python`` record: each configuration's CPU-bound
throughput and CPUs used on each interpreter, the free-threaded build against its GIL twin,
its single-thread cost, and what each interpreter could not install.

Every figure is read from the record's levels and ``BenchRecord.pythons``; nothing here is
typed by hand.
"""

from __future__ import annotations

import statistics

from tabulate import tabulate

from wsgilab.lab import pythons
from wsgilab.model import interpreters
from wsgilab.model.facts import gil_off
from wsgilab.model.record import BenchRecord
from wsgilab.report.charts import Chart, plt
from wsgilab.verdicts.cases import Case, all_cases

CPU_HEADERS = ["configuration", "Python", "req/s", "bound req/s", "X / bound", "CPUs used",
               "CPU ms / request", "PSS per worker (MiB)", "GIL off in every worker", "status"]


def _fmt(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else fmt.format(value)


def python_of(case: Case) -> str:
    """The interpreter a case ran on, by its declared name (``interpreters.DEFAULT`` for none)."""
    return case.level.variant.python or interpreters.DEFAULT


def _gil(case: Case) -> str:
    measured = case.first.figures.get("gil_enabled_processes")
    if measured is not None:
        return "yes" if measured == 0 else f"no: on in {measured:g}"
    processes = (case.first.configuration.processes if case.first.configuration else {}) or {}
    if gil_off({"processes": processes}):
        return "yes"
    return "no (a GIL build)"


def cpu_cases(record: BenchRecord) -> list[Case]:
    """The record's ``cpu`` cases, in the order run."""
    return [c for c in all_cases(record) if c.level.workload == "cpu"]


def cpu_rows(record: BenchRecord) -> list[list[str]]:
    """One row per cpu case: throughput against its bound, the CPUs it used, the CPU time
    per request (CPUs used / X), PSS per worker and whether the GIL stayed off."""
    body = []
    for case in cpu_cases(record):
        x, cpus = case.median("throughput_rps"), case.usage("app_cpu_fraction")
        pss = case.median("worker_pss_mib")
        body.append([case.level.configuration, python_of(case), case.span("throughput_rps"),
                     _fmt(case.median("cpu_bound_rps"), "{:.1f}"),
                     _fmt(case.median("cpu_bound_fraction"), "{:.2f}"), _fmt(cpus, "{:.2f}"),
                     _fmt(cpus / x * 1000 if cpus and x else None, "{:.1f}"),
                     _fmt(pss, "{:.0f}"), _gil(case), case.status])
    return body


def cpu_table(record: BenchRecord) -> str:
    """``cpu_rows`` as a Markdown table."""
    return tabulate(cpu_rows(record), headers=CPU_HEADERS, tablefmt="github", disable_numparse=True)


def pairs(record: BenchRecord) -> list[tuple[str, str, str]]:
    """(configuration, free-threaded interpreter, its twin) for each configuration measured
    on both: twins are declared interpreters built from the same source with the same flags
    but ``--disable-gil``."""
    declared = {**interpreters.of_record(record.pythons)}
    declared.setdefault(interpreters.DEFAULT, interpreters.get(interpreters.DEFAULT))
    order = [(c.level.configuration, python_of(c)) for c in cpu_cases(record)]  # as run
    measured = set(order)
    found = []
    for threaded in declared.values():
        twin = interpreters.twin(threaded, declared)
        if twin is None:
            continue
        for configuration in dict.fromkeys(c for c, _ in order):
            if (configuration, threaded.name) in measured and (configuration, twin.name) in measured:
                found.append((configuration, threaded.name, twin.name))
    return found


def _case(record: BenchRecord, configuration: str, python: str) -> Case:
    return next(c for c in cpu_cases(record)
                if c.level.configuration == configuration and python_of(c) == python)


def ratio_rows(record: BenchRecord) -> list[list[str]]:
    """Per configuration on both builds: req/s and CPUs on each, and their ratio."""
    body = []
    for configuration, threaded, twin in pairs(record):
        a, b = _case(record, configuration, threaded), _case(record, configuration, twin)
        xa, xb = a.median("throughput_rps"), b.median("throughput_rps")
        ca, cb = a.usage("app_cpu_fraction") or 0.0, b.usage("app_cpu_fraction") or 0.0
        body.append([configuration, f"{xb:.1f} / {xa:.1f}", f"{xa / xb:.2f}x",
                     f"{cb:.2f} / {ca:.2f}", f"{ca / cb:.2f}x" if cb else "n/a"])
    return body


def ratio_table(record: BenchRecord) -> str:
    """``ratio_rows`` as a Markdown table."""
    pair = pairs(record)
    if not pair:
        return ""
    _, threaded, twin = pair[0]
    return tabulate(ratio_rows(record), headers=[
        "configuration", f"req/s {twin} / {threaded}", f"{threaded} : {twin}",
        f"CPUs {twin} / {threaded}", f"CPUs {threaded} : {twin}"],
        tablefmt="github", disable_numparse=True)


def _single_threads(record: BenchRecord) -> list[tuple[str, dict]]:
    order = list(interpreters.of_record(record.pythons))
    return sorted(((n, p["single_thread"]) for n, p in record.pythons.items() if "single_thread" in p),
                  key=lambda item: order.index(item[0]) if item[0] in order else len(order))


def twin_cost(record: BenchRecord, name: str) -> str:
    """A free-threaded interpreter's single-thread cost against its same-flags twin
    (``interpreters.twin``), both ways the runs allow: least run over least run, median over
    median, and the spread over every pair of runs (min-max); "" where it has no twin in
    the record."""
    found = dict(_single_threads(record))
    known = interpreters.of_record(record.pythons)
    if name not in known or name not in found:
        return ""
    twin = interpreters.twin(known[name], known)
    if twin is None or twin.name not in found:
        return ""
    mine, theirs = found[name]["runs_us"], found[twin.name]["runs_us"]
    pairs = [a / b for a in mine for b in theirs]
    medians = statistics.median(mine) / statistics.median(theirs)
    return (f"{min(mine) / min(theirs):.2f}x least, {medians:.2f}x median "
            f"({min(pairs):.2f}-{max(pairs):.2f} over {len(pairs)} pairs of runs) against "
            f"{twin.name}")


def single_thread_rows(record: BenchRecord) -> list[list[str]]:
    """Per interpreter: one slice of the cpu endpoint's work, in us of one thread's CPU (the
    least run), against the base interpreter, against its same-flags twin (``twin_cost``),
    its runs and their spread (max / min)."""
    found = _single_threads(record)
    if not found:
        return []
    base = dict(found).get(interpreters.DEFAULT, {}).get("slice_us")
    return [[name, f"{cost['slice_us']:.1f}",
             f"{cost['slice_us'] / base:.2f}x" if base else "n/a",
             twin_cost(record, name) or "–",
             ", ".join(f"{r:.1f}" for r in cost["runs_us"]),
             f"{max(cost['runs_us']) / min(cost['runs_us']):.2f}x"]
            for name, cost in found]


def run_spread(record: BenchRecord) -> str:
    """How far one interpreter's single-thread runs differ on this machine, from the
    record: ``"up to 1.78x (max / min: 3.11 1.32x, 3.13 1.74x, 3.13t 1.78x)"``; "" where
    none was measured."""
    found = [(n, max(c["runs_us"]) / min(c["runs_us"])) for n, c in _single_threads(record)
             if c.get("runs_us")]
    if not found:
        return ""
    return (f"up to {max(r for _, r in found):.2f}x (max / min: "
            + ", ".join(f"{n} {r:.2f}x" for n, r in found) + ")")


def single_thread_table(record: BenchRecord) -> str:
    rows = single_thread_rows(record)
    return tabulate(rows, headers=["Python", "us per slice (least run)", f"against {interpreters.DEFAULT}",
                                   "against its same-flags twin", "runs (us)", "runs max / min"],
                    tablefmt="github", disable_numparse=True) if rows else ""


def install_rows(record: BenchRecord) -> list[list[str]]:
    """What each interpreter could not install as pinned: (Python, pin, what it got, pip's
    reason), from the staging record (``pythons.stage``)."""
    body, seen = [], set()
    for name, facts in sorted(record.pythons.items()):
        for group in ("servers", "app"):  # a pin both locks hold is shown once
            found = pythons.Wheelhouse.from_dict(facts.get(group, {}))
            rows = [[name, pin, f"{new} instead", reason] for pin, (new, reason) in found.substituted.items()]
            rows += [[name, pin, "left out", reason] for pin, reason in found.left_out.items()]
            body += [row for row in rows if (row[0], row[1]) not in seen]
            seen.update((row[0], row[1]) for row in rows)
    return body


def install_table(record: BenchRecord) -> str:
    rows = install_rows(record)
    return tabulate(rows, headers=["Python", "pinned", "installed", "pip's reason"],
                    tablefmt="github", disable_numparse=True) if rows else ""


def other_rows(record: BenchRecord) -> list[list[str]]:
    """The io and db cases (concurrency on the free-threaded build): the peak in flight
    against the cap, req/s, status."""
    body = []
    for case in all_cases(record):
        if case.level.workload == "cpu":
            continue
        cap = case.first.configuration.capacity.limit if case.first.configuration else None
        body.append([case.level.configuration, case.level.workload, python_of(case),
                     f"{case.median('server_peak'):.0f}", "none" if cap is None else str(cap),
                     case.span("throughput_rps"), case.status])
    return body


def other_table(record: BenchRecord) -> str:
    rows = other_rows(record)
    return tabulate(rows, headers=["configuration", "workload", "Python", "peak in flight", "cap",
                                   "req/s", "status"],
                    tablefmt="github", disable_numparse=True) if rows else ""


def cpu_chart(record: BenchRecord) -> Chart | None:
    """req/s of each configuration on each interpreter (bars), with the CPUs it used
    written on each bar; None without cpu levels."""
    cases = cpu_cases(record)
    if not cases:
        return None
    configurations = list(dict.fromkeys(c.level.configuration for c in cases))
    names = list(dict.fromkeys(python_of(c) for c in cases))
    fig, ax = plt.subplots(figsize=(9, 4.2), layout="constrained")
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        for j, configuration in enumerate(configurations):
            case = next((c for c in cases if c.level.configuration == configuration
                         and python_of(c) == name), None)
            if case is None:
                continue
            x = case.median("throughput_rps")
            bar = ax.bar(j + (i - (len(names) - 1) / 2) * width, x, width,
                         color=f"C{i}", label=name if j == 0 else None)
            cpus = case.usage("app_cpu_fraction")
            if cpus is not None:
                ax.bar_label(bar, labels=[f"{cpus:.1f}"], fontsize=7, padding=2)
    ax.set_xticks(range(len(configurations)), configurations, rotation=15, ha="right", fontsize=8)
    ax.set_ylabel("throughput (req/s)")
    ax.legend(title="Python", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    variant = cases[0].level.variant
    title = (f"CPU-bound requests on each Python ({variant.cpus:g}-CPU quota, cores "
             f"{variant.cpuset}, {cases[0].level.vus} VUs)")
    ax.set_title(title, fontsize=10)
    return Chart("python-cpu.png", title,
                 "Bars: throughput (req/s, response-time law) of each configuration on each "
                 "interpreter; the number on a bar is the CPUs its container used over the "
                 "level's steady window.", fig)
