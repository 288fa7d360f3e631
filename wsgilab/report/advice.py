"""An advise run's report: the recommendation first (text, command, ``gunicorn.conf.py``),
then each candidate's capacity under the objective beside the sizing rules' picks, the
latency against the offered rate, the diagnoses, the per-path figures and the facts. All
from the record's ``advice`` and its levels (``wsgilab.studies.advise.runner``).
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import matplotlib.pyplot as plt
from tabulate import tabulate

from wsgilab import families
from wsgilab.model import sizing
from wsgilab.model.record import BenchRecord
from wsgilab.report.charts import WIDTH_IN, Chart
from wsgilab.report.html import _png, facts
from wsgilab.verdicts import recommend
from wsgilab.verdicts.conclude import conclude

TEMPLATE = Path(__file__).with_name("advice.html.j2")


def _mib(value) -> str:
    return f"{value / 2**20:.0f}" if value else "–"


def _num(value, fmt="{:.1f}") -> str:
    return fmt.format(value) if value is not None else "–"


def _advice(record: BenchRecord) -> dict:
    """The record's advice, its diagnoses and recommendation concluded again from its
    measured results with the current rules (``advise.conclude``)."""
    advice = dict(record.advice)
    if advice.get("results"):
        advice.update(conclude(advice))
    return advice


def held(result: dict) -> str:
    """A candidate's capacity as a reader should take it (``recommend.held``), "–" for
    none."""
    return recommend.held(result) if result.get("capacity_rps") else "–"


in_flight = recommend.in_flight


def left_out(advice: dict) -> dict[str, str]:
    """The families the run left out, each with pip's words: ``{family: why}`` (records
    before conflicts were per family kept only the interpreter's)."""
    return advice.get("left_out_families") or (advice.get("python") or {}).get(
        "left_out_families", {})


#: How a candidate came to be measured, in the table's words.
SIZED_BY = {"law": "Little's law", "search": "search around it", "sweep": "the sweep"}


def candidate_rows(record: BenchRecord) -> list[list[str]]:
    """One row per candidate: name, family, the rules that pick it, how it was sized,
    requests in flight, capacity (req/s: "at least" for a lower bound, the median and
    spread over repeats), the closed level's throughput, p99 and failures, CPU per
    request, memory peak, why."""
    advice = _advice(record)
    rec = advice.get("recommendation") or {}
    found = []
    for r in sorted(advice.get("results", []),
                    key=lambda r: -(r.get("capacity_rps") or 0)):
        c = r["candidate"]
        closed = r.get("closed") or {}
        mark = " (recommended)" if c["name"] == rec.get("best") else (
            " (runner-up)" if c["name"] == rec.get("runner_up") else "")
        found.append([
            c["name"] + mark, families.get(c["family"]).title, ", ".join(c["rules"]) or "–",
            SIZED_BY.get(r.get("sized_by"), "–"),
            str(in_flight(r) or "–"),
            held(r) if "error" not in r else "error",
            _num(closed.get("throughput_rps")), _num(closed.get("latency_p99_ms"), "{:.0f}"),
            str(closed.get("failures", "–")), _num(r.get("cpu_ms_per_request"), "{:.2f}"),
            _mib(r.get("memory_peak_bytes")),
            r.get("error") or c["why"] + ("" if c["fits"] else " (does not fit the memory)"),
        ])
    return found


CANDIDATE_HEADERS = ["candidate", "family", "sizing rule", "sized by", "in flight",
                     "capacity", "closed req/s",
                     "closed p99 ms", "failed", "CPU ms/req", "memory peak MiB", "why"]


MODEL_HEADERS = ["family", "sized by the law", "CPU ms/req in it", "in flight by the law with it",
                 "memory peak MiB", "MiB per process", "hub blocked"]


def model_rows(record: BenchRecord) -> list[list[str]]:
    """The app's model per family, from its candidate sized by the law (its closed level):
    the CPU per request in that family (its server's overhead included), the requests in
    flight Little's law gives with that CPU and the probe's time in the app
    (``sizing.Demand``), its memory peak and per process, and how often gevent's monitor
    saw its hub blocked (do waits yield?). [] for records before the law."""
    advice = _advice(record)
    demand = advice.get("demand")
    if not demand:
        return []
    rows, seen = [], set()
    for r in advice.get("results", []):
        family = r["candidate"]["family"]
        if r.get("sized_by") != "law" or family in seen or r["candidate"].get("rules"):
            continue
        seen.add(family)
        cpu = r.get("cpu_ms_per_request")
        law = (sizing.Demand.of(demand["cpus"], demand["service_ms"], cpu,
                                demand["most_processes"]).in_flight if cpu else None)
        settings = r.get("settings") or {}
        processes = settings.get("workers") or settings.get("processes") or 1
        peak = r.get("memory_peak_bytes")
        blocked = sum(b.get("count", 1) for b in r.get("blocked") or [])
        rows.append([families.get(family).title, r["candidate"]["name"], _num(cpu, "{:.2f}"),
                     str(law or "–"), _mib(peak), _num(peak / 2**20 / processes if peak else None),
                     str(blocked) if families.get(family).process.greenlets else "–"])
    return rows


def path_rows(record: BenchRecord) -> list[list[str]]:
    """Per request of the mix: alone (service time), and under the recommended candidate's
    closed level (p50, p99, failures)."""
    advice = _advice(record)
    smoke = advice.get("smoke", [])
    best = (advice.get("recommendation") or {}).get("best")
    result = next((r for r in advice.get("results", []) if r["candidate"]["name"] == best), {})
    by_path = result.get("by_path", {})
    found = []
    for i, s in enumerate(smoke):
        p = by_path.get(str(i), {})
        found.append([s["label"], f"{s['weight']:g}", _num(s.get("service_ms")),
                      _num(p.get("latency_p50_ms"), "{:.0f}"), _num(p.get("latency_p99_ms"), "{:.0f}"),
                      str(p.get("failures", 0))])
    return found


PATH_HEADERS = ["request", "weight", "alone ms", "p50 ms", "p99 ms", "failed"]


def capacity_chart(record: BenchRecord) -> Chart:
    """Each candidate's capacity under the objective, the sizing rules' picks marked; the
    target rate, if declared, as a line."""
    advice = _advice(record)
    results = [r for r in advice.get("results", []) if "error" not in r]
    results.sort(key=lambda r: r.get("capacity_rps") or 0)
    best = (advice.get("recommendation") or {}).get("best")
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.45 * len(results) + 1.6))
    names = [r["candidate"]["name"] + (f"  [{', '.join(r['candidate']['rules'])}]"
                                       if r["candidate"]["rules"] else "") for r in results]
    values = [r.get("capacity_rps") or 0 for r in results]
    colours = ["tab:green" if r["candidate"]["name"] == best else
               ("tab:grey" if not r["candidate"]["fits"] else "tab:blue") for r in results]
    bounds = [recommend.lower_bound(r) for r in results]
    bars = ax.barh(names, values, color=colours)
    for bar, bound in zip(bars, bounds, strict=True):
        if bound:  # a lower bound: hatched, open to the right
            bar.set_hatch("//")
            bar.set_alpha(0.55)
    for y, (v, bound) in enumerate(zip(values, bounds, strict=True)):
        ax.text(v, y, (f" ≥ {v:.1f} (lower bound)" if bound else f" {v:.1f}") if v else " none",
                va="center", fontsize=8)
    target = advice["app"].get("target_rps")
    if target:
        ax.axvline(target, color="tab:red", linestyle="--", linewidth=1)
        ax.text(target, len(results) - 0.4, f" the rate it must serve: {target:g}", color="tab:red",
                fontsize=8)
    objective = advice["app"]["objective"]
    ax.set_xlabel(f"capacity: req/s served with {objective['percentile']} <= "
                  f"{advice.get('objective_bound_ms', 0):g} ms, none failed or dropped")
    ax.set_title(f"{advice['app']['name']} under {advice['app']['cpus']:g} CPU, "
                 f"{advice['app']['memory']}: each candidate's capacity (green: recommended; "
                 "[rule]: a sizing rule's pick)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return Chart("advice-capacity.png", "Each candidate's capacity under the objective",
                 "Bars: the highest arrival rate (req/s, open model) each candidate served with "
                 "the objective met, nothing failed or dropped; green: the recommendation; grey: "
                 "more workers than the memory holds; hatched, \"≥\": a lower bound (the load "
                 "side or the search ended first), never ranked; [rule]: a sizing rule's pick.",
                 fig)


def concurrency_chart(record: BenchRecord) -> Chart | None:
    """Per server family, capacity against the requests in flight its candidates ran
    (the law's count and the search around it, or a sweep), and below it the app's CPU
    at that capacity; Little's law's count as a line. None where the record has no
    demand (records before the advisor sized families)."""
    advice = _advice(record)
    demand = advice.get("demand")
    if not demand:
        return None
    fig, (ax, cpu) = plt.subplots(2, 1, figsize=(WIDTH_IN, 5.6), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1.4]})
    by_family: dict[str, list[tuple[int, float, bool, float | None]]] = {}
    picks: list[tuple[int, float, str]] = []
    for r in advice.get("results", []):
        n = in_flight(r)
        if not (n and r.get("capacity_rps")):
            continue
        # A rule's pick that no family's sizing also reached says "what <rule>'s rule".
        if r["candidate"]["why"].startswith("what "):
            picks.append((n, recommend.capacity(r), f"{r['candidate']['name']} "
                                                    f"({', '.join(r['candidate']['rules'])})"))
            continue
        by_family.setdefault(r["candidate"]["family"], []).append(
            (n, recommend.capacity(r), recommend.lower_bound(r),
             (r.get("at_capacity") or {}).get("app_cpus")))
    for name, points in sorted(by_family.items()):
        points.sort(key=lambda p: p[:2])
        line, = ax.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                        label=families.get(name).title)
        bound = [p for p in points if p[2]]
        ax.scatter([p[0] for p in bound], [p[1] for p in bound], marker="^", s=60,
                   color=line.get_color())
        used = [p for p in points if p[3] is not None]
        cpu.plot([p[0] for p in used], [p[3] for p in used], marker="o", markersize=4,
                 color=line.get_color())
    for n, capacity, label in picks:  # the rules' own picks: the references people know
        ax.scatter([n], [capacity], marker="x", color="black", s=40, zorder=3)
        ax.annotate(f" {label}", (n, capacity), fontsize=7, va="center")
    for axis in (ax, cpu):
        axis.axvline(demand["in_flight"], color="tab:red", linestyle="--", linewidth=1)
        axis.grid(alpha=0.3)
    ax.text(demand["in_flight"], ax.get_ylim()[1] * 0.95,
            f" Little's law: {demand['in_flight']}", color="tab:red", fontsize=8, va="top")
    cpu.axhline(demand["cpus"], color="grey", linestyle=":", linewidth=1)
    cpu.set_ylim(0, demand["cpus"] * 1.15)
    cpu.set_ylabel("app CPUs at\nits capacity", fontsize=8)
    ax.set_xscale("log", base=2)
    cpu.set_xlabel("requests in flight the candidate runs at once (its cap)")
    ax.set_ylabel("capacity under the objective, req/s")
    ax.set_title("Capacity against concurrency, per family: sized by Little's law, then "
                 "measured around it", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return Chart("advice-concurrency.png", "Capacity against requests in flight",
                 f"Each point: one candidate of a family (a cross: a sizing rule's own pick), the "
                 f"requests it runs at once (log scale) and its capacity under the objective "
                 f"(req/s, the median over repeats); a triangle: a lower bound. Below: the CPU "
                 f"the app's container used at that capacity (the dotted line: its quota, "
                 f"{demand['cpus']:g}). The dashed line is Little's law's count: "
                 f"{demand['cpus']:g} CPU x {demand['service_ms']:.1f} ms in the app / "
                 f"{demand['cpu_ms']:.1f} ms of CPU a request.", fig)


def rerun_check(first: BenchRecord, second: BenchRecord) -> str:
    """Whether two runs of ``make advise`` on one app say the same: they do where both
    recommend the same configuration, or both call the top ones equal within the noise
    (*undecided*); else they disagree, each run's pick and figure named."""
    said = []
    for record in (first, second):
        advice = _advice(record)
        rec = advice.get("recommendation") or {}
        by_name = {r["candidate"]["name"]: r for r in advice.get("results", [])}
        best = by_name.get(rec.get("best") or "")
        undecided = rec.get("undecided") or []
        said.append((rec.get("best"), bool(undecided),
                     f"{record.started}: {rec.get('verdict')}"
                     + (f" {rec['best']} ({held(best)})" if best else "")
                     + (f", undecided against {', '.join(undecided)}" if undecided else "")))
    (a, a_tied, a_said), (b, b_tied, b_said) = said
    if a and a == b:
        verdict = f"both runs recommend {a}" + (
            "; where a run was undecided, it named it for what it weighed among equals "
            "(concurrency to spare, then memory), not for its capacity"
            if a_tied or b_tied else "")
    elif a_tied and b_tied:
        verdict = "both runs call the top ones equal within the noise"
    else:
        verdict = "the runs disagree"
    return f"Two runs on this app: {a_said}; {b_said}. {verdict[0].upper()}{verdict[1:]}."


def sweep_check(record: BenchRecord, sweep: BenchRecord) -> str:
    """Whether a recommendation holds against a wider sweep of its family's knobs
    (``make advise-sweep``): the sweep's best configuration and capacity beside the
    recommended one's, "within its spread" where the sweep's best, one search, is above
    the highest of the recommendation's repeats by no more than SEARCH_SPREAD (how far two
    searches of one configuration land here: the rule that tells two candidates apart),
    else how much more the sweep found. Names a sweep of another family as not checking
    it."""
    advice, swept = _advice(record), _advice(sweep)
    family = (sweep.options or {}).get("sweep")
    rec = advice.get("recommendation") or {}
    by_name = {r["candidate"]["name"]: r for r in advice.get("results", [])}
    best = by_name.get(rec.get("best") or "")
    points = [r for r in swept.get("results", []) if r.get("capacity_rps")]
    said = (f"A wider sweep of {families.get(family).title}'s knobs ({len(swept.get('results', []))} "
            f"configurations, {', '.join(r['candidate']['name'] for r in swept.get('results', []))}; "
            f"recorded once, {sweep.started})")
    if best is None:
        return said + ": there is no recommendation to check."
    exact = [r for r in points if recommend.exact(r)]
    if not exact:
        return said + ": no configuration of it was measured to its top."
    top = max(exact, key=recommend.capacity)
    top_rps, highest = recommend.capacity(top), max(recommend.figure(best).values)
    above = recommend.beyond_noise(top_rps, highest)
    if families.get(best["candidate"]["family"]).name != families.get(family).name:
        # Another family's sweep checks nothing of the pick's own sizing, but says whether
        # the family held more than the pick anywhere: what the search around the law missed.
        ratio = f"{top_rps / highest:.2f} x the recommendation's highest repeat"
        return (said + f": the recommendation, {best['candidate']['name']}, is of another "
                f"family, which this sweep does not check; its best measured to the top, "
                f"{top['candidate']['name']}, held {held(top)}, "
                + (f"{ratio}, beyond SEARCH_SPREAD: a size of this family the search around "
                   f"the law did not try held more" if above else
                   f"{ratio}, below it beyond SEARCH_SPREAD"
                   if recommend.beyond_noise(highest, top_rps) else
                   "within SEARCH_SPREAD of the recommendation's highest repeat") + ".")
    within = not above
    same = top["candidate"]["name"] == best["candidate"]["name"]
    verdict = ("within its spread" if within else
               "the same configuration, measured higher by the sweep than in any of the "
               f"run's repeats ({top_rps / highest:.2f} x): the spread between "
               "runs is wider than within one" if same else
               f"below the sweep's best by {top_rps / highest:.2f} x its "
               "highest repeat: the search missed it")
    bounds = ", ".join(f"{r['candidate']['name']} {held(r)}"
                       for r in points if recommend.lower_bound(r))
    return (said + f": its best measured to the top, {top['candidate']['name']}, held "
            f"{held(top)}; the recommendation, {best['candidate']['name']}, held {held(best)}: "
            f"{verdict}" + (f" (SEARCH_SPREAD {recommend.SEARCH_SPREAD:.0%}: two searches of one "
                            "configuration land that far apart here)" if within else "")
            + ("; the sweep's best is the recommended configuration itself" if same and within
               else "")
            + (f". Lower bounds, not compared: {bounds}" if bounds else "") + ".")


def latency_chart(record: BenchRecord) -> Chart:
    """The objective's percentile against the offered rate, every search step, per
    candidate; the objective as a line."""
    advice = record.advice
    bound = advice.get("objective_bound_ms")
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.2))
    for r in sorted(advice.get("results", []), key=lambda r: -(r.get("capacity_rps") or 0)):
        steps = [s for s in (r.get("search") or {}).get("steps", []) if s.get("latency_ms")]
        if not steps:
            continue
        steps.sort(key=lambda s: s["rate_rps"])
        line, = ax.plot([s["rate_rps"] for s in steps], [s["latency_ms"] for s in steps],
                        marker="o", markersize=3, label=r["candidate"]["name"])
        missed = [s for s in steps if not s["passed"]]
        ax.scatter([s["rate_rps"] for s in missed], [s["latency_ms"] for s in missed], s=40,
                   facecolors="none", edgecolors=line.get_color(), linewidths=1)
    if bound:
        ax.axhline(bound, color="tab:red", linestyle="--", linewidth=1, label="objective")
    ax.set_yscale("log")
    ax.set_xlabel("arrival rate asked, req/s (open model)")
    ax.set_ylabel(f"{advice['app']['objective']['percentile']} latency, ms")
    ax.set_title("Latency against the offered rate: each candidate's search steps", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return Chart("advice-latency.png", "Latency against the offered rate",
                 "Each point: one level of a candidate's capacity search, the arrival rate it "
                 "asked for (req/s) and its latency percentile (ms, log scale); circled: the "
                 "step missed (latency, a failure, or a dropped iteration: k6 had no VU free); "
                 "the dashed line is the objective.", fig)


def text(record: BenchRecord, show_path: bool = True) -> str:
    """The short text that ends ``make advise``: the recommendation, what it held, why it
    beat the runner-up, what limits would serve the target, the sizing rules' picks and
    the diagnoses; with ``show_path``, where the record is."""
    advice = _advice(record)
    rec = advice.get("recommendation")
    if not rec:
        return f"advise: {record.status}; record: {record.path}"
    app = advice["app"]
    lines = ["", f"== {app['name']}: the recommendation =="]
    by_name = {r["candidate"]["name"]: r for r in advice["results"]}
    if advice.get("python"):
        lines.append(f"on Python {advice['python']['interpreter']['name']}")
    lines += [f"left out {name}: {why}" for name, why in left_out(advice).items()]
    if advice.get("demand"):
        d = advice["demand"]
        lines.append(f"the app asks for {d['in_flight']} request{'s' if d['in_flight'] != 1 else ''} "
                     f"in flight: {d['cpus']:g} CPU x "
                     f"{d['service_ms']:.1f} ms in the app / {d['cpu_ms']:.1f} ms of CPU a request "
                     "(Little's law); each family sized to it, then measured around it")
    lines += [f"search around the law: {w['family']} from {w['from']} (its own "
              f"{w['cpu_ms']:.1f} ms of CPU a request: {w['law_in_flight']} in flight), "
              f"{w['steps']} step{'s' if w['steps'] != 1 else ''}, stopped: {w['stopped']}"
              for w in advice.get("walks", [])]
    if rec["verdict"] == "recommended":
        best = by_name[rec["best"]]
        command = families.paste_command(best["candidate"]["command"], app["entry"])
        lines.append(f"deploy {rec['best']}: {command}")
        line = (f"  held {held(best)} with {app['objective']['percentile']} "
                f"<= {advice['objective_bound_ms']:g} ms")
        if best.get("memory_peak_bytes"):
            line += f", memory peak {best['memory_peak_bytes'] / 2**20:.0f} MiB"
        if best.get("cpu_ms_per_request"):
            line += f", {best['cpu_ms_per_request']:.1f} ms of CPU a request"
        lines += [line, f"  why: {rec['reason']}"]
    elif rec["verdict"] == "host-bound":
        lines.append(f"not measured on this machine: {rec['reason']}")
    elif rec["verdict"] == "unranked":
        lines.append(f"not ranked: {rec['reason']}")
    else:
        lines.append(f"no candidate met the objective: {rec['reason']}")
    for other in advice.get("pythons") or []:
        if "result" not in other:
            lines.append(f"  on Python {other['python']}: not measured: {other['not_measured']}")
            continue
        result = other["result"]
        lines.append(f"  on Python {other['python']}: the same configuration held {held(result)}"
                     + (f", {result['cpu_ms_per_request']:.1f} ms of CPU a request"
                                if result.get("cpu_ms_per_request") else "")
                     + (f"; {result['error']}" if result.get("error") else ""))
    if rec.get("needs"):
        lines.append(f"  limits: {rec['needs']}")
    lines += [f"  sizing rule {line}" for line in rec.get("rules", [])]
    lines += [f"  diagnosis ({d['kind']}): {d['summary']}" for d in advice.get("diagnoses", [])]
    if show_path:
        lines.append(f"record: {record.path}")
    return "\n".join(lines)


def write(record: BenchRecord) -> list[str]:
    """Write ``report.html``, ``report.md`` and the charts' PNGs into the record's directory.

    Returns:
        the chart files written.
    """
    directory = record.directory
    advice = _advice(record)
    charts = ([c for c in (capacity_chart(record), concurrency_chart(record), latency_chart(record))
               if c is not None] if advice.get("results") else [])
    rec = advice.get("recommendation") or {}
    best = next((r for r in advice.get("results", []) if r["candidate"]["name"] == rec.get("best")),
                None)
    command = (families.paste_command(best["candidate"]["command"], advice["app"]["entry"])
               if best else "")
    family = families.get(best["candidate"]["family"]) if best else None
    conf = (family.config_file(best["settings"])
            if family and family.config_file and best.get("settings") else "")
    try:
        for chart in charts:
            chart.figure.savefig(directory / chart.name)
        environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
        page = environment.from_string(TEMPLATE.read_text()).render(
            record=record, advice=advice, rec=rec, best=best, command=command, conf=conf,
            best_held=held(best) if best else "",
            summary=text(record), smoke_tries=advice.get("smoke_tries", "a few"),
            charts=charts, images={c.name: _png(c) for c in charts},
            candidates=tabulate(candidate_rows(record), headers=CANDIDATE_HEADERS, tablefmt="html",
                                disable_numparse=True),
            paths=tabulate(path_rows(record), headers=PATH_HEADERS, tablefmt="html",
                           disable_numparse=True),
            model=tabulate(model_rows(record), headers=MODEL_HEADERS, tablefmt="html",
                           disable_numparse=True),
            facts=facts(record))
        (directory / "report.html").write_text(page)
    finally:
        for chart in charts:
            plt.close(chart.figure)
    md = [f"# {advice['app']['name']}: which configuration to deploy ({record.status})", "",
          "```", text(record, show_path=False).strip(), "```", ""]
    if best and conf:
        md += ["`gunicorn.conf.py`:", "", "```python", conf.rstrip(), "```", ""]
    md += ["## Candidates", "",
           tabulate(candidate_rows(record), headers=CANDIDATE_HEADERS, tablefmt="github",
                    disable_numparse=True), "",
           "## Per request", "",
           tabulate(path_rows(record), headers=PATH_HEADERS, tablefmt="github",
                    disable_numparse=True), ""]
    md += [f"![{c.title}]({c.name})\n" for c in charts]
    (directory / "report.md").write_text("\n".join(md))
    return [c.name for c in charts]
