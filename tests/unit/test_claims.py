"""Verdicts on the seeds' claims are computed from a run's records, and follow them.

For every claim there is a changed measurement that changes its verdict (and for most, one
per branch of its rule): a rule whose verdicts were swapped, or that ignored the figure it
names, fails here. For every claim decided by a measured figure, a second repeat of that
figure across the rule's threshold makes it undecided. The stored run is a real `make
bench` (records/default); records/gthread-repeats holds five repeats of claims 6 and 8's
levels.
"""

import ast
import copy
import re
from pathlib import Path

import pytest

from support import DEFAULT_RUN, FAULTS_RUN, RECORDS, REPEATS_RUN
from wsgilab import families as servers
from wsgilab.model.levels import Variant
from wsgilab.model.objective import Objective
from wsgilab.model.record import BenchRecord
from wsgilab.model.roles import ROLES, player
from wsgilab.verdicts import claims
from wsgilab.verdicts.cases import all_cases
from wsgilab.verdicts.claims import DOES_NOT_HOLD, HOLDS, HOLDS_ONLY_WHEN, NOT_MEASURED, UNDECIDED

STATUSES = {HOLDS, HOLDS_ONLY_WHEN, DOES_NOT_HOLD, NOT_MEASURED, UNDECIDED}
TWO_CPUS = {"cpus": 2.0, "cpuset": "0-1"}
ONE_GEVENT_WORKER = {"knobs": (("workers", "1"),)}


@pytest.fixture(scope="module")
def stored():
    return BenchRecord.load(DEFAULT_RUN)


@pytest.fixture
def record(stored):
    """A real run of `make bench`'s default plan (records/default), a fresh copy."""
    return copy.deepcopy(stored)


def entries(record, role, workload, **variant):
    configuration = player(record.roles, role)
    return [e for e in record.levels if e.level.configuration == configuration
            and e.level.workload == workload and e.level.variant == Variant(**variant)]


def verdict(record, claim_id):
    return next(v for c, v in claims.verdicts(record) if c.id == claim_id)


def figure(role, workload, name, value, where=lambda e: True, **variant):
    """A change: ``name`` set to ``value`` in the figures of ``role``'s levels."""
    def change(record):
        found = [e for e in entries(record, role, workload, **variant) if where(e)]
        assert found, f"no {role} {workload} level in the stored run"
        for entry in found:
            entry.figures[name] = value
    return change


def load(role, workload, name, value, **variant):
    """A change: the instrument figure ``name`` set to ``value`` for ``role``'s levels."""
    def change(record):
        found = entries(record, role, workload, **variant)
        assert found, f"no {role} {workload} level in the stored run"
        for entry in found:
            entry.usage[name] = value
    return change


def both(*changes):
    def change(record):
        for c in changes:
            c(record)
    return change


def param(name, value):
    return lambda e: e.level.param(name) == value


def runtime(patched_by):
    """A change: every configuration that reported a gevent patch reports ``patched_by``."""
    from dataclasses import replace

    def change(record):
        for entry in record.levels:
            if entry.configuration and entry.configuration.runtime.get("patched_by") == "gevent":
                entry.configuration = replace(entry.configuration, runtime={
                    **entry.configuration.runtime, "patched_by": patched_by})
    return change


def environment(**values):
    return lambda record: record.environment.update(values)


def sweep_memory(record):
    """Every level of the worker sweep at the same memory: a worker would cost nothing."""
    for entry in record.levels:
        if entry.level.workload == "cpu" and dict(entry.level.variant.knobs).get("workers") \
                and entry.level.variant.memory:
            entry.usage["app_memory_bytes"] = 200 * 2**20


def sweep_slows_down(record):
    """The sweep's most workers at half the best throughput: context switching would cost."""
    most = max(int(dict(e.level.variant.knobs)["workers"]) for e in record.levels
               if e.level.workload == "cpu" and e.level.variant.memory)
    for entry in record.levels:
        if entry.level.variant.memory and dict(entry.level.variant.knobs).get("workers") == str(most):
            entry.figures["throughput_rps"] = 9.0


def sizing_container(**facts):
    def change(record):
        for entry in record.levels:
            if entry.configuration and entry.level.variant.cpus == 0.5 and entry.level.variant.knobs:
                entry.configuration.container.update(facts)
    return change


def free_threaded(thread_cpus):
    """A change: `make bench-python`'s free-threaded levels merged in (copies of the 2-CPU
    cpu levels of sync workers, gthread and the dev server, on 3.13t), each process of
    threads using ``thread_cpus``."""
    from dataclasses import replace

    def change(record):
        record.pythons["3.13t"] = {"interpreter": {"name": "3.13t", "free_threaded": True}}
        for role in ("sync-workers", "gthread-one-process", "dev-server"):
            for entry in entries(record, role, "cpu", **TWO_CPUS):
                copied = copy.deepcopy(entry)
                copied.level = replace(entry.level, variant=replace(entry.level.variant, python="3.13t"))
                if role != "sync-workers":
                    copied.usage["app_cpu_fraction"] = thread_cpus
                record.levels.append(copied)
    return change


CHANGES = [
    # 1: app.run() holding one at a time makes the seeds right; threaded=False holding two
    # makes them wrong about the dev server altogether.
    (1, figure("dev-server", "io", "server_peak", 1), HOLDS),
    (1, figure("dev-server-single", "io", "server_peak", 2), DOES_NOT_HOLD),
    (2, figure("dev-server", "io", "server_peak", 10), DOES_NOT_HOLD),
    (3, figure("dev-server-forking", "io", "server_peak", 2), DOES_NOT_HOLD),
    # 4 sync workers holding 5 would refute "N workers, N at once" ...
    (4, figure("sync-workers", "io", "server_peak", 5), DOES_NOT_HOLD),
    # ... and prove the Q&A's "more than four because they start threads".
    (5, figure("sync-workers", "io", "server_peak", 9), HOLDS),
    # gthread 2 x 4 sustaining all 8 would make "8 at once" hold without condition; a
    # peak of 7 would refute it.
    (6, figure("gthread-workers", "io", "little_inflight", 6.0), HOLDS_ONLY_WHEN),
    (6, figure("gthread-workers", "io", "server_peak", 7), DOES_NOT_HOLD),
    # gevent holding 10 of 40 on io refutes "many at once"; C waits that held every VU
    # leave no condition.
    (7, figure("gevent-workers", "io", "server_peak", 10), DOES_NOT_HOLD),
    (7, both(figure("gevent-workers", "db", "server_peak", 16, param("driver", "psycopg2")),
             figure("gevent-workers", "upstream", "server_peak", 40, param("client", "pycurl"))),
     HOLDS),
    # gthread's workers served evenly: balanced, by the kernel; the master serving some
    # too would make the claim hold.
    (8, load("gthread-workers", "io", "served_top_share", 0.5), HOLDS_ONLY_WHEN),
    (8, both(load("gthread-workers", "io", "served_top_share", 0.5),
             load("sync-workers", "io", "served_by_master", 10)), HOLDS),
    (9, figure("gevent-workers", "io", "server_peak", 10, **ONE_GEVENT_WORKER), DOES_NOT_HOLD),
    # threads using two CPUs under a 2-CPU quota would refute the GIL claim; so would sync
    # workers held to one.
    (10, load("gthread-one-process", "cpu", "app_cpu_fraction", 1.9, **TWO_CPUS), DOES_NOT_HOLD),
    (10, load("sync-workers", "cpu", "app_cpu_fraction", 1.0, **TWO_CPUS), DOES_NOT_HOLD),
    # ... and on a free-threaded build, threads that use two CPUs make it conditional.
    (10, free_threaded(1.85), HOLDS_ONLY_WHEN),
    (11, figure("gevent-workers", "io", "throughput_rps", 10.0), DOES_NOT_HOLD),
    (11, figure("dev-server", "io", "throughput_rps", 50.0), HOLDS),
    (12, sweep_slows_down, HOLDS),
    # A container that sees exactly its CPUs, with no quota: the formula counts right.
    (13, sizing_container(os_cpu_count=1, affinity_cpus=1, cfs_quota_cpus=None), HOLDS),
    (14, sweep_memory, DOES_NOT_HOLD),
    (15, figure("gevent-workers", "db", "db_active_peak", 16, param("driver", "psycopg2")),
     DOES_NOT_HOLD),
    (16, runtime(None), DOES_NOT_HOLD),
    (16, both(environment(gevent_has_monkey_patch=True),
              figure("gevent-preload", "db", "db_active_peak", 16)), HOLDS),
    (17, figure("dev-server-single", "io", "server_peak", 2), DOES_NOT_HOLD),
    (17, figure("dev-server", "io", "server_peak", 1), HOLDS),
    (18, figure("dev-server", "io", "throughput_rps", 20.0), HOLDS),
]


def test_every_claim_names_its_seeds_and_an_existing_rule():
    found = claims.load()
    assert [c.id for c in found] == list(range(1, 19))
    for claim in found:
        assert set(claim.seeds) <= {"000", "001", "002"} and claim.seeds, claim
        assert claim.rule in claims.RULES and claim.measurement


def _claims_yaml(tmp_path, old, new):
    text = claims.CLAIMS_FILE.read_text()
    assert text.count(old) >= 1, old
    path = tmp_path / "claims.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_a_claim_naming_an_unknown_role_is_refused(tmp_path):
    path = _claims_yaml(tmp_path, "single: dev-server-single", "single: dev-server-solo")
    with pytest.raises(ValueError, match="claim 1 in claims.yaml names dev-server-solo"):
        claims.load(path)


def test_a_claim_without_its_roles_is_refused(tmp_path):
    path = _claims_yaml(tmp_path, "  roles: {threaded: dev-server}\n", "")
    with pytest.raises(ValueError, match="claim 2 in claims.yaml has no roles"):
        claims.load(path)


def _module():
    return ast.parse(Path(claims.__file__).read_text())


def test_the_claims_module_names_no_role():
    """Every role a rule reads is its claim's declaration in claims.yaml, not a literal."""
    found = [f"claims.py:{node.lineno} {node.value!r}" for node in ast.walk(_module())
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ROLES]
    assert not found, "role names written in claims.py (declare them in claims.yaml):\n" + "\n".join(found)


def _purposes_read() -> dict[str, set[str]]:
    """The purposes (``roles["..."]``) each rule reads, itself or through a function of
    claims.py it hands its ``roles`` to."""
    functions = {n.name: n for n in _module().body if isinstance(n, ast.FunctionDef)}

    def read(function: ast.FunctionDef, seen: set[str]) -> set[str]:
        found = set()
        for node in ast.walk(function):
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) \
                    and node.value.id == "roles":
                assert isinstance(node.slice, ast.Constant), \
                    f"{function.name} reads roles[...] by a computed purpose: name it"
                found.add(node.slice.value)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in functions and node.func.id not in seen \
                    and any(isinstance(a, ast.Name) and a.id == "roles" for a in node.args):
                found |= read(functions[node.func.id], seen | {node.func.id})
        return found

    return {name: read(functions[name], {name}) for name in claims.RULES}


def test_each_claim_declares_exactly_the_roles_its_rule_reads():
    read = _purposes_read()
    wrong = {c.id: (sorted(c.roles), sorted(read[c.rule])) for c in claims.load()
             if set(c.roles) != read[c.rule]}
    assert not wrong, f"claims whose roles: differ from what the rule reads (declared, read): {wrong}"


@pytest.mark.parametrize("run", [DEFAULT_RUN, FAULTS_RUN], ids=["default", "faults"])
def test_a_role_with_several_players_is_judged_on_the_player_with_levels(run):
    """What "not measured" sentences say they need names the first player; every other
    verdict must not move."""
    record = BenchRecord.load(run)

    def read():
        return [(v.status, v.status == NOT_MEASURED or v.text()) for _, v in claims.verdicts(record)]

    before = read()
    record.roles = {role: [f"unmeasured-{role}", *names] for role, names in record.roles.items()}
    assert read() == before, "a player without levels before the measured one changed a verdict"


def test_among_measured_players_the_first_is_judged(record):
    assert verdict(record, 2).status == HOLDS
    single = player(record.roles, "dev-server-single")
    record.roles["dev-server"] = [single, *record.roles["dev-server"]]
    after = verdict(record, 2)
    assert after.status == DOES_NOT_HOLD and after.detail.startswith("1 of"), after.text()


def test_a_full_run_answers_every_claim(record):
    results = claims.verdicts(record)
    assert all(v.status in STATUSES for _, v in results)
    unanswered = [c.id for c, v in results if v.status == NOT_MEASURED]
    assert unanswered == [], f"claims {unanswered} not measured by the default plan"


def test_every_claim_has_a_measurement_that_changes_its_verdict():
    covered = {claim_id for claim_id, _, _ in CHANGES}
    assert covered == set(range(1, 19)), f"claims without one: {sorted(set(range(1, 19)) - covered)}"


@pytest.mark.parametrize("claim_id, change, becomes", CHANGES,
                         ids=[f"claim{c}-{b.replace(' ', '-')}" for c, _, b in CHANGES])
def test_a_changed_measurement_changes_the_verdict(record, claim_id, change, becomes):
    before = verdict(record, claim_id)
    change(record)
    after = verdict(record, claim_id)
    assert before.status != becomes, f"claim {claim_id} already read {before.text()}"
    assert after.status == becomes, f"claim {claim_id}: expected {becomes}, got {after.text()}"


def test_a_run_without_the_levels_says_not_measured(record):
    record.levels, record.environment = [], {}
    assert {v.status for _, v in claims.verdicts(record)} == {NOT_MEASURED}


def test_repeats_that_disagree_are_said(record):
    found = entries(record, "gthread-workers", "io")  # the close level: run CLOSE_REPEATS times
    entry = found[0]
    again = copy.deepcopy(entry)
    again.level = type(entry.level)(**{**entry.level.__dict__,
                                       "repeat": max(e.level.repeat for e in found) + 1})
    again.status, again.problems = "FAIL", ["little: made up for the test"]
    record.levels.append(again)
    assert verdict(record, 6).disagreements, "repeats that disagree must be reported"


def redeclare(record, role, **settings):
    """The run as if ``role``'s configuration had been declared with other settings: its
    reported settings and capacity model changed, and its peaks where the cap binds."""
    from dataclasses import replace

    for entry in record.levels:
        if entry.level.configuration != player(record.roles, role) or set(settings) & set(
                dict(entry.level.variant.knobs)):
            continue  # another configuration, or a level that sets these itself
        new = {**entry.configuration.settings, **settings}
        capacity = servers.model(new)
        entry.configuration = replace(entry.configuration, settings=new, capacity=capacity)
        if capacity.limit and entry.level.vus > capacity.limit:
            entry.figures["server_peak"] = capacity.limit


def test_verdict_sentences_read_the_counts_of_the_configurations_they_judge(record):
    """Declared with 8 sync workers and gthread 3 x 4, no verdict may still say 4 sync
    workers or 2 x 4: the sentences read the settings, not literals."""
    redeclare(record, "sync-workers", workers=8)
    redeclare(record, "gthread-workers", workers=3, threads=4)
    text = {c.id: v.text() for c, v in claims.verdicts(record)}
    assert "8 sync workers held 8" in text[5], text[5]
    assert "8 sync workers'" in text[11], text[11]
    assert "workers x threads = 3 x 4: peak 12" in text[6] and "of 12" in text[6], text[6]
    stale = {i: t for i, t in text.items() if re.search(r"\b4 sync workers|2 x 4: peak", t)}
    assert not stale, f"verdicts still quote the old declaration: {stale}"
    assert claims.verdicts(record)[4][1].status == DOES_NOT_HOLD  # 8 workers held 8: still 1 each


def with_capacity(role, rate, service_ms=250.0):
    """A change: the run also holds a capacity search of ``role`` that found ``rate``."""
    from wsgilab.model.capacity import Search, Step

    def change(record):
        found = Search(player(record.roles, role), "io", Objective("p99", 500.0),
                       service_ms, None, "", "", 2000.0, [Step(rate, True), Step(rate * 1.1, False)])
        record.capacities.append(found.to_dict())
    return change


@pytest.mark.parametrize("claim_id, change, becomes", [
    # One gevent worker holding 10 would not be dozens; a capacity of 400 req/s at 250 ms is
    # 100 in flight (Little's law): it is.
    (9, both(figure("gevent-workers", "io", "server_peak", 10, **ONE_GEVENT_WORKER),
             with_capacity("gevent-workers", 400.0)), HOLDS),
    # Under the objective threads served far less than gevent: threads no longer "do as well".
    (11, both(with_capacity("gevent-workers", 600.0), with_capacity("sync-workers", 16.0),
              with_capacity("dev-server", 200.0)), HOLDS),
    # The threaded dev server's capacity far below gevent's: it does not scale.
    (18, both(with_capacity("dev-server", 100.0), with_capacity("gevent-workers", 600.0)), HOLDS),
], ids=["claim9-capacity", "claim11-capacity", "claim18-capacity"])
def test_claims_about_many_requests_read_the_capacity_where_it_exists(record, claim_id, change, becomes):
    before = verdict(record, claim_id)
    change(record)
    after = verdict(record, claim_id)
    assert after.status == becomes, f"claim {claim_id}: expected {becomes}, got {after.text()}"
    assert "capacity" in after.detail, after.detail
    assert before.text() != after.text()


def test_free_threaded_threads_held_to_one_cpu_keep_the_gil_claim(record):
    """The other branch of claim 10's free-threaded condition: threads that stayed near one
    CPU on the free-threaded build leave the claim holding, with their figures quoted."""
    free_threaded(1.02)(record)
    found = verdict(record, 10)
    assert found.status == HOLDS, found.text()
    assert "on free-threaded 3.13t" in found.detail and "1.02 CPUs" in found.detail, found.detail


# --- repeats: undecided where they straddle the threshold -------------------------------

def again(role, workload, name, *values, where=lambda e: True, usage=False, **variant):
    """A change: ``role``'s levels measured again, one repeat per value, each with ``name``
    (a result figure, or with ``usage`` an instrument one) at that value; the stored run
    is the first repeat."""
    from dataclasses import replace

    def change(record):
        found = [e for e in entries(record, role, workload, **variant) if where(e)]
        assert found, f"no {role} {workload} level in the stored run"
        for entry in found:
            for n, value in enumerate(values, start=2):
                copied = copy.deepcopy(entry)
                copied.level = replace(entry.level, repeat=n)
                (copied.usage if usage else copied.figures)[name] = value
                record.levels.append(copied)
    return change


def sweep_again(throughput=None, memory=None):
    """A change: the whole worker sweep run a second time, its most workers' throughput
    at ``throughput``, or every count's memory at ``memory`` (a worker costing nothing)."""
    from dataclasses import replace

    def change(record):
        sweep = [e for e in record.levels if e.level.workload == "cpu" and e.level.variant.memory
                 and dict(e.level.variant.knobs).get("workers")]
        most = max(int(dict(e.level.variant.knobs)["workers"]) for e in sweep)
        for entry in sweep:
            copied = copy.deepcopy(entry)
            copied.level = replace(entry.level, repeat=2)
            if throughput is not None and dict(entry.level.variant.knobs)["workers"] == str(most):
                copied.figures["throughput_rps"] = throughput
            if memory is not None:
                copied.usage["app_memory_bytes"] = memory
            record.levels.append(copied)
    return change


UNDECIDED_CHANGES = [
    (1, again("dev-server", "io", "server_peak", 1)),
    (2, again("dev-server", "io", "server_peak", 10)),
    (3, again("dev-server-forking", "io", "server_peak", 2)),
    (4, again("sync-workers", "io", "server_peak", 5)),
    (5, again("sync-workers", "io", "server_peak", 9)),
    # The case: one run above EVERY_VU x 8 = 7.2, another repeat below it.
    (6, both(figure("gthread-workers", "io", "little_inflight", 7.9),
             again("gthread-workers", "io", "little_inflight", 6.4))),
    (7, again("gevent-workers", "io", "server_peak", 10)),
    (8, again("gthread-workers", "io", "served_top_share", 0.5, usage=True)),
    (9, again("gevent-workers", "io", "server_peak", 10, **ONE_GEVENT_WORKER)),
    (10, again("gthread-one-process", "cpu", "app_cpu_fraction", 1.9, usage=True, **TWO_CPUS)),
    (11, again("gevent-workers", "io", "throughput_rps", 10.0)),
    (12, sweep_again(throughput=9.0)),
    (14, sweep_again(memory=200 * 2**20)),
    (15, again("gevent-workers", "db", "db_active_peak", 16, where=param("driver", "psycopg2"))),
    (16, both(environment(gevent_has_monkey_patch=True),
              again("gevent-preload", "db", "db_active_peak", 16))),
    (17, again("dev-server-single", "io", "server_peak", 2)),
    (18, again("dev-server", "io", "throughput_rps", 20.0)),
]


def test_every_claim_decided_by_a_measured_figure_can_be_undecided():
    """Claim 13 is decided by counts the container reported (its CPUs, os.cpu_count()), no
    figure with a spread."""
    covered = {claim_id for claim_id, _ in UNDECIDED_CHANGES}
    assert covered == set(range(1, 19)) - {13}, sorted(set(range(1, 19)) - {13} - covered)


@pytest.mark.parametrize("claim_id, change", UNDECIDED_CHANGES,
                         ids=[f"claim{c}" for c, _ in UNDECIDED_CHANGES])
def test_a_repeat_across_the_threshold_leaves_the_verdict_undecided(record, claim_id, change):
    # One run's first measurement of each level (records/default repeats the close ones).
    record.levels = [e for e in record.levels if e.level.repeat <= 1]
    before = verdict(record, claim_id)
    change(record)
    after = verdict(record, claim_id)
    assert before.status != UNDECIDED, before.text()
    assert after.status == UNDECIDED, f"claim {claim_id}: expected undecided, got {after.text()}"
    assert "over 2 repeats straddles" in after.detail and \
        "more repeats, or a quieter machine, would decide it" in after.detail, after.detail
    assert before.status in after.detail, "an undecided verdict names the verdicts it lies between"


@pytest.mark.parametrize("claim_id, change", [
    # Two more repeats on the stored run's side of EVERY_VU x 8 = 7.2 (records/default of
    # 2026-12-06 reads 7.44; the repeats record's last four 7.83 to 7.96).
    (6, again("gthread-workers", "io", "little_inflight", 7.8, 7.9)),
    (2, again("dev-server", "io", "server_peak", 40, 39)),
    (11, again("gevent-workers", "io", "throughput_rps", 150.0)),
], ids=["claim6", "claim2", "claim11"])
def test_repeats_on_the_same_side_keep_the_verdict(record, claim_id, change):
    before = verdict(record, claim_id)
    change(record)
    assert verdict(record, claim_id).status == before.status


def test_the_same_run_twice_gives_the_same_verdicts(record):
    before = [(c.id, v.status, v.condition) for c, v in claims.verdicts(record)]
    for entry in list(record.levels):
        copied = copy.deepcopy(entry)
        copied.level = type(entry.level)(**{**entry.level.__dict__, "repeat": entry.level.repeat + 1})
        record.levels.append(copied)
    assert [(c.id, v.status, v.condition) for c, v in claims.verdicts(record)] == before


def test_a_straddle_the_verdict_does_not_turn_on_leaves_it_decided(record):
    """One gevent worker's peak straddles DOZENS, but a capacity of 100 in flight decides
    claim 9 either way."""
    both(again("gevent-workers", "io", "server_peak", 10, **ONE_GEVENT_WORKER),
         with_capacity("gevent-workers", 400.0))(record)
    found = verdict(record, 9)
    assert found.status == HOLDS and any(r.side is None for r in found.readings), found.text()


@pytest.fixture(scope="module")
def findings_record():
    """The record the findings' verdicts read: records/default with the other records
    merged in (``findings.combine``)."""
    from wsgilab.report import findings

    return findings.combine(findings.load_sources())


def test_claims_6_and_8_read_the_repeats_record_as_its_five_repeats_say(findings_record):
    repeats = BenchRecord.load(REPEATS_RUN)
    gthread = player(repeats.roles, "gthread-workers")
    case = max((c for c in all_cases(repeats, configuration=gthread) if c.level.closed),
               key=lambda c: c.level.vus)
    little, shares = case.values("little_inflight"), case.usage_values("served_top_share")
    # the figures
    assert sorted(round(v, 2) for v in little) == [6.42, 7.05, 7.83, 7.93, 7.96]
    assert [round(v, 2) for v in shares] == [0.68, 0.60, 0.56, 0.59, 0.64]
    settings = case.first.configuration.settings
    line6 = claims.EVERY_VU * case.first.configuration.capacity.limit
    served = [sum(counts) for counts in case.usage_values("served_by_worker")]
    line8 = (1 + claims.BALANCED_WITHIN) / settings["workers"] + 1 / min(served)

    def expected(values, holds_when_above, above, below):
        if min(values) < holds_when_above <= max(values):
            return UNDECIDED
        return above if min(values) >= holds_when_above else below

    six = expected(little, line6, HOLDS, HOLDS_ONLY_WHEN)
    eight = UNDECIDED if min(shares) <= line8 < max(shares) else (
        HOLDS_ONLY_WHEN if max(shares) <= line8 else DOES_NOT_HOLD)  # the master served none
    assert (six, eight) == (UNDECIDED, DOES_NOT_HOLD), \
        f"expected claim 6's repeats to straddle {line6:.2f} and claim 8's to sit above {line8:.3f}"
    for record in (repeats, findings_record):
        assert verdict(record, 6).status == six, verdict(record, 6).text()
        assert verdict(record, 8).status == eight, verdict(record, 8).text()
    six_text, eight_text = verdict(findings_record, 6).detail, verdict(findings_record, 8).detail
    assert "7.83 (6.42-7.96) over 5 repeats straddles >= 7.20 (EVERY_VU x 8)" in six_text, six_text
    assert "60% (56%-68%)" in eight_text and "straddles" not in eight_text, eight_text
    assert all("read from records/gthread-repeats" in t for t in (six_text, eight_text))


def test_the_balanced_split_is_the_repeats_records_own():
    """BALANCED_WITHIN is measured: the busiest worker's excess over its fair share where
    each worker accepts only when free, in records/gthread-repeats."""
    repeats = BenchRecord.load(REPEATS_RUN)
    balanced = [player(repeats.roles, role) for role in ("gthread-accept-bounded", "uwsgi-threaded")]
    measured = claims.balanced_spread(repeats, balanced)
    assert measured is not None and abs(measured - claims.BALANCED_WITHIN) < 0.001, \
        f"BALANCED_WITHIN {claims.BALANCED_WITHIN} against {measured} measured in the record"
    gthread = claims.balanced_spread(repeats, [player(repeats.roles, "gthread-workers")])
    assert gthread > 10 * claims.BALANCED_WITHIN, f"gthread 2 x 4's excess {gthread:.3f}"


def test_the_findings_read_a_repeated_case_from_its_repeats_only(findings_record):
    gthread = player(findings_record.roles, "gthread-workers")
    (case,) = [c for c in all_cases(findings_record, configuration=gthread, workload="io")
               if c.level.vus == 40 and not c.level.variant]
    assert len(case.entries) == 5 and case.run.startswith("records/gthread-repeats, started ")


def test_a_verdict_that_reads_another_run_names_it(findings_record, record):
    text = {c.id: v.detail for c, v in claims.verdicts(findings_record)}
    started = BenchRecord.load(RECORDS / "python").started[:10]
    # Claim 10 reads the free-threaded build and its GIL twin from one run, and says so.
    assert (f"on 3.13, the free-threaded build's GIL twin (read from records/python, started "
            f"{started}") in text[10] and "on free-threaded 3.13t (the same run)" in text[10], text[10]
    own_10 = verdict(record, 10).detail
    assert "no free-threaded build was measured in this run" in own_10, own_10
    for claim_id in (9, 11, 18):
        assert "(read from records/capacity, started " in text[claim_id], text[claim_id]
    for claim_id in (9, 14, 18):
        assert "(read from records/faults, started " in text[claim_id], text[claim_id]
    own = [c.id for c, v in claims.verdicts(record) if "read from" in v.detail]
    assert own == [], f"verdicts on one run's own record name another run: {own}"


def test_claim_11_says_it_compares_memory_per_request_in_flight(record):
    text = verdict(record, 11).detail
    assert re.search(r"memory per request in flight: gevent [\d.]+ MiB \(\d+ MiB in total for 40 "
                     r"in flight\) against sync [\d.]+ MiB \(\d+ MiB for 4\)", text), text


def test_merged_runs_are_kept_through_the_records_json(findings_record):
    again_ = BenchRecord.from_dict(findings_record.to_dict())
    assert again_.runs == findings_record.runs and set(again_.runs) == {"capacities", "scenarios"}
    assert [e.run for e in again_.levels] == [e.run for e in findings_record.levels]
    assert "run" not in BenchRecord.load(DEFAULT_RUN).to_dict()["levels"][0]


def test_too_many_straddles_read_undecided_without_trying_every_side():
    from wsgilab.verdicts.noise import Figure, compare, threshold

    unsure = compare(Figure("x", (1.0, 3.0)), ">=", threshold(2.0, "two"))
    many = [unsure] * (claims.MOST_STRADDLES_TRIED + 1)
    found = claims.judge("d", lambda sides: (HOLDS, ""), many)
    assert found.status == UNDECIDED and "more repeats, or a quieter machine" in found.detail
