"""The run as tables: per level (over repeats), the sweep, the sizing rules, the claims."""

from __future__ import annotations

from tabulate import tabulate

from wsgilab import workloads
from wsgilab.model.capacity import Search, spread
from wsgilab.model.record import BenchRecord
from wsgilab.verdicts import analyses, claims
from wsgilab.verdicts.cases import Case, all_cases

HEADERS = ["configuration", "workload", "variant", "load", "req/s", "p50 ms", "p95 ms",
           "L in app", "peak", "expected peak", "other", "status"]


def _expected(case: Case, name: str) -> str:
    check = next((c for c in case.first.checks if c.name == name), None)
    return check.expected() if check else ""


def _other(case: Case) -> str:
    """The workload's own result fields, and its checks beyond peak/Little/failures."""
    parts = []
    for column in workloads.get(case.level.workload).columns:
        if case.median(column.figure) is not None:
            parts.append(f"{column.header} {case.span(column.figure, column.fmt)}")
    for check in case.first.checks:
        if check.name in ("peak", "little", "failures"):
            continue
        parts.append(f"{check.figure} {case.span(check.figure)} (expected {check.expected()})")
    return "; ".join(parts)


def rows(record: BenchRecord, keep=lambda case: True) -> list[list]:
    """One row per case (a level and its repeats) that ``keep`` accepts, in the order
    first run."""
    table = []
    for case in filter(keep, all_cases(record)):
        level = case.level
        head = [level.configuration, level.workload,
                "; ".join(filter(None, [", ".join(f"{k}={v}" for k, v in level.params
                                                   if k in level.name_params),
                                        level.variant.describe() if level.variant else ""])),
                level.load.describe()]
        if not case.measured:
            table.append(head + ["", "", "", "", "", _expected(case, "peak"),
                                 "; ".join(case.entries[0].problems)[:80], case.status])
            continue
        table.append(head + [
            case.span("throughput_rps"), case.span("latency_p50_ms", "{:.0f}"),
            case.span("latency_p95_ms", "{:.0f}"), case.span("little_inflight", "{:.2f}"),
            case.span("server_peak", "{:.0f}"), _expected(case, "peak"), _other(case),
            case.status])
    return table


def text_table(record: BenchRecord, fmt: str = "simple") -> str:
    """The results table; ``fmt`` is any tabulate format (``"github"`` for Markdown)."""
    return tabulate(rows(record), headers=HEADERS, tablefmt=fmt, disable_numparse=True)


def sweep_table(swept: analyses.Sweep) -> str:
    """Markdown: the sync-worker sweep on one CPU, one row per worker count."""
    rows_ = [[p.workers, f"{p.throughput_rps:.1f}", f"{p.latency_p95_ms:.0f}",
              f"{p.memory_bytes / 2**20:.0f}"] for p in swept.points]
    return (tabulate(rows_, headers=["sync workers", "req/s", "p95 ms", "memory MiB"],
                     tablefmt="github", disable_numparse=True)
            + f"\n\nMemory per worker (least squares): {swept.memory_per_worker_bytes / 2**20:.1f} "
              f"MiB, plus {swept.base_memory_bytes / 2**20:.1f} MiB; fewest workers within "
              f"{analyses.BEST_WITHIN:.0%} of the best throughput: {swept.best_workers}.")


def sizing_table(results: list[analyses.RuleResult]) -> str:
    """Markdown: each sizing rule here and on a large host."""
    rows_ = []
    for r in results:
        memory = ("" if r.projected_memory_bytes is None
                  else f"{r.projected_memory_bytes / 2**20:,.0f} MiB")
        rows_.append([r.rule.name, r.rule.formula, r.here.describe(),
                      "" if r.cpu_rps is None else f"{r.cpu_rps:.1f}",
                      "" if r.io_rps is None else f"{r.io_rps:.1f}",
                      r.projected.describe(), memory])
    return tabulate(rows_, headers=["rule", "formula", "here", "cpu req/s", "io req/s",
                                    f"on {analyses.PROJECTED_HOST_CPUS} cores", "its memory"],
                    tablefmt="github", disable_numparse=True)


def shown_verdicts(record: BenchRecord) -> tuple[list[tuple[claims.Claim, claims.Verdict]], int]:
    """(claim, verdict) pairs a report shows, and how many it leaves out: every claim for
    a bench run; for a run of fault scenarios only (no levels), the claims it measured,
    since the others all read "not measured" and would push the scenarios down the page."""
    found = claims.verdicts(record)
    shown = found if record.levels else [(c, v) for c, v in found if v.status != claims.NOT_MEASURED]
    return shown, len(found) - len(shown)


#: What a report says about the claims it left out (``shown_verdicts``).
HIDDEN_CLAIMS = "{} more claims need the bench's levels (make bench); this run measured fault scenarios only."


def claims_table(record: BenchRecord) -> str:
    """Markdown: the claims of the seeds (``shown_verdicts``) with their verdicts on this run."""
    shown, hidden = shown_verdicts(record)
    rows_ = [[claim.id, claim.claim, ", ".join(claim.seeds), verdict.text()] for claim, verdict in shown]
    table = tabulate(rows_, headers=["#", "claim (paraphrased)", "seeds", "verdict, measured"],
                     tablefmt="github", disable_numparse=True)
    return table + ("\n\n" + HIDDEN_CLAIMS.format(hidden) if hidden else "")


def scenario_rows(record: BenchRecord) -> list[list[str]]:
    """One row per fault scenario and configuration: [scenario, configuration, what
    happened, verdict against the declared expectation]."""
    table = []
    for name, entry in (record.scenarios or {}).items():
        if "error" in entry:
            table.append([name, "", entry["error"], "error"])
        for o in entry.get("outcomes", []):
            verdict = "as expected" if o["passed"] else "NOT as expected: " + "; ".join(o["problems"])
            table.append([name, o["configuration"], o["summary"], verdict])
    return table


SCENARIO_HEADERS = ["scenario", "configuration", "what happened", "against its expectation"]


def scenarios_table(record: BenchRecord, fmt: str = "github") -> str:
    """The fault scenarios as a table (``fmt``: any tabulate format)."""
    return tabulate(scenario_rows(record), headers=SCENARIO_HEADERS, tablefmt=fmt,
                    disable_numparse=True)


CAPACITY_HEADERS = ["configuration", "workload", "limits", "objective", "capacity req/s",
                    "theoretical maximum req/s", "capacity / maximum", "what limits it",
                    "against the maximum", "why", "steps"]


def capacity_rows(record: BenchRecord) -> list[list[str]]:
    """One row per configuration and workload searched: the capacity (median and min-max
    over repeats), the theoretical maximum and the ratio, and what the search saw."""
    grouped: dict[tuple, list[Search]] = {}
    errors = []
    for data in record.capacities:
        if "error" in data:
            errors.append([data["configuration"], data["workload"], "", "", "", "", "", "",
                           "error", data["error"], ""])
            continue
        found = Search.from_dict(data)
        grouped.setdefault((found.configuration, found.workload), []).append(found)
    limits = {e.level.configuration: e.configuration.limits.describe()
              for e in record.levels if e.configuration}
    body = []
    for (configuration, workload), searches in grouped.items():
        first = searches[0]
        median, low, high = spread(searches)
        capacity = "none met the objective" if median is None else f"{median:.1f}"
        if median is not None and len(searches) > 1 and low != high:
            capacity += f" ({low:.1f}-{high:.1f})"
        if any(s.instrument_bound for s in searches):
            capacity = f"at least {capacity} (the load side's limit)"
        ratio = f"{median / first.maximum_rps:.2f}" if median and first.maximum_rps else ""
        verdicts = sorted({s.verdict() for s in searches})
        last = first.steps[-1] if first.steps else None
        why = "; ".join(f"{s.rate_rps:g}: {'met' if s.passed else s.why}" for s in first.steps)
        body.append([configuration, workload, limits.get(configuration, ""),
                     f"{first.objective.percentile} <= {first.objective.bound_ms:g} ms",
                     capacity,
                     "" if first.maximum_rps is None else f"{first.maximum_rps:.1f}",
                     ratio, f"{first.limited_by}: {first.maximum_rule}" if first.limited_by else "",
                     ", ".join(verdicts), "; ".join(sorted({s.explain() for s in searches} - {""})),
                     why if last else ""])
    return body + errors


def capacity_table(record: BenchRecord, fmt: str = "github") -> str:
    """The capacity searches as a table (``fmt``: any tabulate format)."""
    return tabulate(capacity_rows(record), headers=CAPACITY_HEADERS, tablefmt=fmt,
                    disable_numparse=True)


OVERHEAD_HEADERS = ["configuration", "server", "cap", "CPU ms per request",
                    "req/s one CPU serves", "measured at"]


def overhead_rows(record: BenchRecord) -> list[list[str]]:
    """One row per configuration (the median over repeats): its CPU time per request on a
    near-zero-work request, and the req/s one CPU could serve at that cost."""
    import statistics

    grouped: dict[str, list[dict]] = {}
    for row in record.overheads:
        grouped.setdefault(row["configuration"], []).append(row)
    body = []
    for configuration, rows_ in sorted(grouped.items(),
                                       key=lambda kv: statistics.median(
                                           r["cpu_ms_per_request"] for r in kv[1])):
        ms = statistics.median(r["cpu_ms_per_request"] for r in rows_)
        first = rows_[0]
        server = first["server"] + (f" {first['worker_class']}" if first.get("worker_class") else "")
        body.append([configuration, server, first["formula"], f"{ms:.2f}",
                     f"{1000 / ms:.0f}" if ms > 0 else "",
                     f"{first['rate_rps']:g} req/s offered, {first['throughput_rps']:.0f} served"])
    return body


def overhead_table(record: BenchRecord, fmt: str = "github") -> str:
    """The server overheads as a table (``fmt``: any tabulate format)."""
    return tabulate(overhead_rows(record), headers=OVERHEAD_HEADERS, tablefmt=fmt,
                    disable_numparse=True)
