"""Your own app: the declaration is checked before anything is built, the candidates are
bounded and explained, the app's project is hardened like the lab, and the recommendation
and diagnoses follow from the measured results alone."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from support import ROOT
from wsgilab import families
from wsgilab.lab import images
from wsgilab.model import app as declaration
from wsgilab.model import sizing
from wsgilab.model.app import AppError
from wsgilab.model.record import BenchRecord
from wsgilab.model.results import ClassResult, LevelResult
from wsgilab.report import advice as advice_report
from wsgilab.studies.advise import candidates, project, runner
from wsgilab.verdicts import diagnose, recommend
from wsgilab.workloads import get as workload

EXAMPLES = ROOT / "examples"
MIB = 2**20


@pytest.fixture
def shop(tmp_path):
    """A copy of the shop example to break."""
    where = tmp_path / "shop"
    shutil.copytree(EXAMPLES / "shop", where)
    return where


@pytest.mark.parametrize("folder", ["examples/shop", "examples/notes", "services/app"])
def test_the_shipped_apps_declare_what_the_lab_needs(folder):
    spec = declaration.load(ROOT / folder)
    assert spec.requests and spec.entry.count(":") == 1
    assert spec.requirements, f"{folder} lists no requirements"
    assert spec.postgres is not None


def _edit(folder, old, new):
    path = folder / declaration.DECLARATION
    text = path.read_text()
    assert old in text, f"{old!r} not in the shop's declaration"
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("old, new, message", [
    ('entry = "shop.wsgi:app"', 'entry = "shop.wsgi"', "module:attribute"),
    ('entry = "shop.wsgi:app"', 'entry = "nowhere.wsgi:app"', "no module 'nowhere'"),
    ('SHOP_DB_POOL_SIZE = "4"', 'LAB_APP = "x:y"', "may not set LAB_APP"),
    ('cpus = 1.0', 'cpus = 0', "cpus must be a number in"),
    ('cpus = 1.0', 'cpus = "lots"', "cpus must be"),
    ('memory = "512M"', 'memory = "lots"', "[limits]"),
    ('pids = 256', 'pids = 4', "pids must be at least 32"),
    ('slo = "p99=300ms"', 'slo = "p42=fast"', "[objective]"),
    ('path = "/stats"', 'path = "/stats and more"', "percent-encode"),
    ('weight = 4', 'weight = -1', "weight must be"),
    ('name = "shop"', 'name = "Shop!"', "name must be"),
    ('schema = "schema.sql"', 'schema = "missing.sql"', "missing.sql is not a file"),
    ('requirements = "requirements.txt"', 'requirements = "nope.txt"', "nope.txt is not a file"),
    ('[limits]', '[objective.x]\n[limits]', None),
])
def test_a_bad_declaration_stops_before_anything_is_built(shop, old, new, message):
    _edit(shop, old, new)
    if message is None:  # an unknown table is not an error: nothing reads it
        declaration.load(shop)
        return
    with pytest.raises(AppError) as err:
        declaration.load(shop)
    assert message in str(err.value), f"expected {message!r} in: {err.value}"


def test_a_missing_folder_or_declaration_is_named(tmp_path):
    with pytest.raises(AppError, match="is not a folder"):
        declaration.load(tmp_path / "nothing")
    with pytest.raises(AppError, match="has no lab-app.toml"):
        declaration.load(tmp_path)


def test_a_requirements_file_may_not_pull_in_others(shop):
    (shop / "requirements.txt").write_text("flask\n-r other.txt\n")
    with pytest.raises(AppError, match="-r is not supported"):
        declaration.load(shop)


def _src_layout(tmp_path, pyproject=True):
    """The gateway example moved into a src layout (its package under src/)."""
    where = tmp_path / "gateway"
    shutil.copytree(EXAMPLES / "gateway", where)
    (where / "src").mkdir()
    shutil.move(where / "gateway", where / "src" / "gateway")
    if pyproject:
        (where / "pyproject.toml").write_text(
            '[project]\nname = "gateway-app"\nversion = "0.1"\ndependencies = ["flask", "requests"]\n'
            '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n')
    return where


def test_an_entry_may_live_in_a_src_layout_or_an_installed_requirement(tmp_path):
    assert declaration.load(EXAMPLES / "gateway").project is None, "a module at the folder's top"
    assert declaration.load(_src_layout(tmp_path)).project == "gateway-app"
    toml = tmp_path / "gateway" / "lab-app.toml"
    toml.write_text(toml.read_text().replace('entry = "gateway.wsgi:app"',
                                             'entry = "requests.api:request"'))
    assert declaration.load(tmp_path / "gateway").project is None, "installed from its requirements"
    toml.write_text(toml.read_text().replace('entry = "requests.api:request"',
                                             'entry = "nowhere.wsgi:app"'))
    with pytest.raises(AppError, match="among its requirements"):
        declaration.load(tmp_path / "gateway")


def test_a_src_layout_without_a_project_to_install_is_named(tmp_path):
    with pytest.raises(AppError, match="no pyproject.toml with a \\[project\\] name"):
        declaration.load(_src_layout(tmp_path, pyproject=False))


def test_a_har_file_becomes_the_mix_identical_requests_weighted(shop):
    har = {"log": {"entries": [
        {"request": {"method": "GET", "url": "http://shop.example/products?page=2",
                     "headers": [{"name": "Accept", "value": "text/html"},
                                 {"name": "Host", "value": "shop.example"}]}},
        {"request": {"method": "GET", "url": "http://shop.example/products?page=2",
                     "headers": [{"name": "Accept", "value": "text/html"}]}},
        {"request": {"method": "POST", "url": "http://shop.example/orders",
                     "headers": [], "postData": {"text": "{\"product\": 1, \"quantity\": 1}"}}},
    ]}}
    (shop / "recorded.har").write_text(json.dumps(har))
    found = declaration.har_requests(shop / "recorded.har")
    assert [(r.label, r.weight) for r in found] == [("GET /products?page=2", 2.0),
                                                    ("POST /orders", 1.0)]
    assert found[0].headers == {"Accept": "text/html"}, "Host is the load side's to set"


def _demand(cpus=1.0, service_ms=200.0, cpu_ms=10.0, memory=512 * MIB, worker=51.0):
    return sizing.Demand.of(cpus, service_ms, cpu_ms, sizing.most_workers(memory, worker))


def test_littles_law_sizes_the_requests_in_flight_from_the_measured_times():
    # Issue 24's app: requests wait 200 ms and burn 10 ms of CPU, in 1 CPU: 100 req/s at
    # full use, each 0.2 s in the app: L = 100 x 0.2 = 20 in flight.
    demand = _demand()
    assert demand.in_flight == 20 and demand.cpu_bound_rps == pytest.approx(100.0)
    assert _demand(cpus=2.0, service_ms=5.0, cpu_ms=5.0).in_flight == 2, \
        "an app that only computes needs one request in flight per core"
    assert _demand(service_ms=10_000.0, cpu_ms=1.0).in_flight == sizing.MOST_IN_FLIGHT
    assert _demand(service_ms=1.0, cpu_ms=0.0).in_flight == math.ceil(1.0 / sizing.LEAST_CPU_MS)
    with pytest.raises(ValueError):
        sizing.Demand.of(0, 10.0, 1.0, 4)


def test_each_family_is_sized_to_the_apps_demand_not_to_a_constant():
    demand = _demand()
    found = {c.name: c for c in candidates.generate(demand, 51.0, sizing.facts_for(2, 2, 1.0, 512 * MIB))}
    most = sizing.most_workers(512 * MIB, 51.0)
    for name in ("gthread-1x20", "waitress-20", "granian-1x20", "uwsgi-threads-1x20",
                 f"sync-{min(20, most)}"):
        assert name in found, f"expected {name} among {sorted(found)}"
        assert "Little's law" in found[name].why
    assert "gevent-1x1000" in found, "greenlets: one hub per CPU whatever the count"
    # A CPU-bound app in 2 CPUs: a process per core, one request each.
    cpu_bound = {c.name for c in candidates.generate(_demand(cpus=2.0, service_ms=5.0, cpu_ms=5.0),
                                                     51.0, sizing.facts_for(2, 2, 2.0, 512 * MIB))}
    assert {"sync-2", "gthread-2x1-wc1", "granian-2x1"} <= cpu_bound, sorted(cpu_bound)


def test_the_search_around_the_law_scales_a_family_and_skips_what_does_not_move():
    demand = _demand()
    (gthread,) = [c for c in candidates.generate(demand, 51.0, sizing.facts_for(2, 2, 1.0, 512 * MIB),
                                                 light=True)
                  if c.family == "gunicorn-gthread" and not c.rules]
    assert candidates.resized(gthread, demand, 2.0).name == "gthread-1x40"
    assert candidates.resized(gthread, demand, 0.5).name == "gthread-1x10"
    gevent = candidates.Candidate.of(families.get("gunicorn-gevent"),
                                     {"workers": 1, "worker_connections": 1000}, "")
    assert candidates.resized(gevent, demand, 2.0) is None, "a hub's greenlets do not follow the count"


def test_the_shops_candidates_are_bounded_explained_and_carry_the_rules():
    spec = declaration.load(EXAMPLES / "shop")
    container = sizing.facts_for(2, 2, spec.cpus, spec.memory_bytes)
    found = candidates.generate(_demand(spec.cpus, 20.0, 4.0, spec.memory_bytes), 51.0, container)
    names = [c.name for c in found]
    assert len(names) == len(set(names)), f"a candidate twice: {names}"
    assert len(found) <= 10, f"{len(found)} candidates: more than the 15-minute budget holds"
    assert all(c.why for c in found)
    # Every rule's pick is measured, under the name of the candidate it equals.
    picked = {rule for c in found for rule in c.rules}
    assert picked == {r.name for r in sizing.RULES}
    by_rule = {rule: c.name for c in found for rule in c.rules}
    assert by_rule["gunicorn"] == "sync-5", "2 x os.cpu_count() + 1 with os.cpu_count() = 2"
    assert by_rule["heroku"] == "sync-2", "min(2 x 2 + 1, 512 MB / 256)"
    assert by_rule["cloud-run"] == by_rule["functions-framework"] == "gthread-1x8"
    # Sync workers up to what 512 MiB holds at 51 MiB each, headroom kept.
    most = sizing.most_workers(spec.memory_bytes, 51.0)
    assert all(int(n.split("-")[1]) <= most for n in names if n.startswith("sync-")
               and not by_rule.get("gunicorn") == n)


def test_a_rule_that_the_memory_cannot_hold_is_kept_and_marked():
    container = sizing.facts_for(16, 16, 1.0, 512 * MIB)  # a 16-core node, a 1-CPU pod
    found = candidates.generate(_demand(worker=120.0), 120.0, container)
    gunicorn = next(c for c in found if "gunicorn" in c.rules)
    assert gunicorn.name == "sync-33" and not gunicorn.fits
    assert "need more memory" in gunicorn.why


def test_the_light_form_has_the_laws_sync_and_gthread_and_cloud_runs_eight_threads():
    found = candidates.generate(_demand(), 51.0, sizing.facts_for(2, 2, 1.0, 512 * MIB), light=True)
    assert [(c.family, c.rules) for c in found] == [
        ("gunicorn-sync", ()), ("gunicorn-gthread", ()), ("gunicorn-gthread", ("cloud-run",))]
    assert found[1].name == "gthread-1x20" and found[2].name == "gthread-1x8"


def test_an_unknown_python_stops_before_anything_is_built(tmp_path):
    from wsgilab import cli

    lines = []
    status = cli.advise([str(EXAMPLES / "gateway"), "--python", "2.7", "--results",
                         str(tmp_path / "run")], out=lines.append)
    assert status == runner.BAD_INPUT, lines
    assert "unknown Python '2.7'" in "\n".join(lines)
    assert not (tmp_path / "run").exists(), "nothing was started"


def test_a_family_whose_server_or_worker_has_no_wheel_is_left_out_in_pips_words():
    said = "No matching distribution found for gevent==26.9.0"
    out = candidates.unavailable({"gevent==26.9.0": said, "zope-interface==8.7": "none"}, "3.13t")
    assert sorted(out) == ["gunicorn-gevent", "uwsgi-gevent"], out
    assert out["gunicorn-gevent"] == f"gevent has no wheel for Python 3.13t: {said}"
    found = candidates.generate(_demand(), 51.0, sizing.facts_for(2, 2, 1.0, 512 * MIB),
                                exclude=frozenset(out))
    assert not [c for c in found if c.family in out], [c.name for c in found]
    assert candidates.unavailable({"Py_UWSGI==2.0": "x"}, "3.13t") == {}, "names normalised"
    assert "uwsgi-threads" in candidates.unavailable({"pyuwsgi==2.0.30.post1": "x"}, "3.13t")


#: pip's account of a conflict, as `pip download` printed it for httpbin 0.10.4 over the
#: servers' pins (2026-12-06).
PIP_CONFLICT = """The conflict is caused by:
    httpbin 0.10.4 depends on greenlet<3.0; python_version < "3.12"
    The user requested (constraint) greenlet==3.5.6
ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/"""


def test_a_lock_closure_follows_its_via_annotations():
    lock = images.SERVERS / "servers.lock"
    assert images.lock_closure(lock, ["granian"]) == ["click==8.5.1", "granian==2.8.7"], \
        "granian pulls in click (its '# via granian')"
    gevent = families.get("gunicorn-gevent").distributions
    names = {pin.partition("==")[0] for pin in images.lock_closure(lock, gevent)}
    assert {"gunicorn", "gevent", "greenlet", "zope-event", "zope-interface", "packaging"} <= names
    assert "waitress" not in names and "granian" not in names, names


def test_a_family_whose_pins_conflict_with_the_app_is_left_out_and_the_rest_staged(
        tmp_path, monkeypatch):
    app = tmp_path / "app"
    app.mkdir()
    (app / "requirements.txt").write_text("httpbin==0.10.4\n")
    monkeypatch.setattr(images, "STAGES", tmp_path / "stages")
    asked: list[tuple[str, ...]] = []

    def resolve(target, constraints, wheels):
        asked.append(constraints)
        return PIP_CONFLICT if any(p.startswith("greenlet==") for p in constraints) else None

    monkeypatch.setattr(images, "_resolve", resolve)
    offered = {f.name: (f.requirements, f.distributions) for f in candidates.offered(("servers",))}
    stage = images.stage("conflicted", app, app / "requirements.txt", "wsgi-lab/base:test",
                         families=offered)
    out = images.left_out(stage)
    assert sorted(out) == ["gunicorn-gevent", "uwsgi-gevent"], f"expected gevent's families, got {out}"
    assert "httpbin 0.10.4 depends on greenlet<3.0" in out["gunicorn-gevent"], "pip's own words"
    kept = (stage / "servers" / "requirements.txt").read_text().split()
    assert {"gunicorn==27.0.1", "waitress==3.0.2", "granian==2.8.7", "pyuwsgi==2.0.30.post1"} <= set(kept)
    assert not [p for p in kept if p.startswith(("gevent", "greenlet"))], kept
    assert images.staged_servers(stage)
    # Every family's pins conflicting: nothing to measure, said in pip's words.
    monkeypatch.setattr(images, "_resolve", lambda target, constraints, wheels: PIP_CONFLICT)
    with pytest.raises(images.RequirementConflict, match="greenlet"):
        images.stage("conflicted", app, app / "requirements.txt", "wsgi-lab/base:test",
                     families=offered)


def test_a_stage_with_its_own_servers_is_built_from_them(tmp_path, monkeypatch):
    spec = declaration.load(EXAMPLES / "httpbin")
    monkeypatch.setattr(images, "STAGES", tmp_path)
    assert project.build_args(spec, "servers")["SERVERS"] == "servers"
    (tmp_path / spec.name / "servers").mkdir(parents=True)
    (tmp_path / spec.name / "servers" / "requirements.txt").write_text("gunicorn==27.0.1\n")
    assert project.build_args(spec, "servers")["SERVERS"] == "staged", \
        "a stage that left families out installs its own servers' pins"
    assert project.build_args(spec, "servers-eventlet")["SERVERS"] == "servers-eventlet"


def test_the_apps_project_is_hardened_published_on_loopback_and_starts_no_candidate(tmp_path,
                                                                                      monkeypatch):
    monkeypatch.setattr(project, "PROJECTS", tmp_path)
    spec = declaration.load(EXAMPLES / "shop")
    found = candidates.generate(_demand(memory=spec.memory_bytes), 51.0,
                                sizing.facts_for(2, 2, 1.0, spec.memory_bytes))
    path = project.write(spec, found, "base:test", host_cpus=2)
    doc = json.loads(path.read_text())
    services = doc["services"]
    assert services["nginx"]["ports"] == [f"127.0.0.1:{project.ADVISE_PORT}:8080"]
    for c in found:
        svc = services[c.name]
        assert svc["extends"]["service"] == "instrument", "hardening comes from compose/app.yml"
        assert svc["profiles"] == [project.CANDIDATES_PROFILE], "up must not start candidates"
        assert svc["cpuset"] == "1", "a quota only: every core but the load side's"
        assert svc["deploy"]["resources"]["limits"] == {"cpus": "1.0", "memory": "512M", "pids": 256}
        assert svc["environment"]["LAB_APP"] == spec.entry
        assert "ports" not in svc
    assert sorted(p.name for p in (tmp_path / "shop" / "db-init").iterdir()) == [
        "01-schema.sql", "02-seed.sql"]
    allow = (tmp_path / "shop" / "lab-configurations.map").read_text()
    assert "postgres" not in allow and all(f"{c.name} 1;" in allow for c in found)


def test_a_quota_only_app_runs_off_the_load_cores_and_the_rules_see_every_core():
    spec = declaration.load(EXAMPLES / "shop")
    assert spec.cpuset is None
    assert project.cpuset(spec, 4, frozenset({0})) == "1,2,3"
    assert project.cpuset(spec, 1, frozenset({0})) == "0", "a one-core host has no other core"
    seen = project.quota_only_facts({"os_cpu_count": 4, "affinity_cpus": 3}, 4)
    assert seen["affinity_cpus"] == 4 and seen["os_cpu_count"] == 4


def _result(name, family, capacity, memory_mib, rules=(), fits=True, failures=0, **extra):
    extra.setdefault("search", {"verdict": "within", "first_fail_rps": (capacity or 0) * 1.1})
    return {"candidate": {"name": name, "family": family, "command": ["gunicorn"], "why": "",
                          "rules": list(rules), "servers": "servers", "environment": {},
                          "fits": fits},
            "formula": "f", "capacity_rps": capacity, "memory_peak_bytes": memory_mib * MIB,
            "cpu_ms_per_request": 4.0, "settings": {"server": "gunicorn", "workers": 1},
            "closed": {"failures": failures, "requests": 100, "server_peak": 2}, **extra}


def test_the_highest_capacity_wins_and_the_reason_is_measured():
    results = [_result("sync-3", "gunicorn sync", 100.0, 180),
               _result("gthread-1x8", "gunicorn gthread", 140.0, 70, rules=("cloud-run",)),
               _result("sync-5", "gunicorn sync", 60.0, 300, rules=("gunicorn",))]
    rec = recommend.choose(results, cpus=1.0)
    assert rec["best"] == "gthread-1x8" and rec["runner_up"] == "sync-3"
    assert "1.40 x the runner-up's capacity" in rec["reason"]
    assert any(line.startswith("gunicorn: sync-5") for line in rec["rules"])


def test_capacities_within_the_noise_go_to_the_smaller_memory():
    results = [_result("sync-3", "gunicorn sync", 100.0, 180),
               _result("gthread-1x8", "gunicorn gthread", 98.0, 70)]
    rec = recommend.choose(results, cpus=1.0)
    assert rec["best"] == "gthread-1x8"
    assert "in less memory" in rec["reason"]


def test_one_search_each_is_told_apart_only_beyond_the_search_spread():
    # records/advise-shop of 2026-12-06: its ties' repeats were left out for the budget.
    inside = 100.0 * (1 - recommend.SEARCH_SPREAD) + 1.0
    results = [_result("uwsgi-threads-1x2", "uwsgi threads", 100.0, 75),
               _result("waitress-2", "waitress", inside, 40)]
    rec = recommend.choose(results, cpus=1.0)
    assert rec["undecided"], f"{inside:.1f} against 100.0 in one search each: {rec['reason']}"
    assert "in one search each, not repeated" in rec["reason"], rec["reason"]
    outside = 100.0 * (1 - recommend.SEARCH_SPREAD) - 1.0
    results[1]["capacity_rps"] = outside
    rec = recommend.choose(results, cpus=1.0)
    assert rec["best"] == "uwsgi-threads-1x2" and not rec["undecided"], rec["reason"]
    assert "beyond SEARCH_SPREAD" in rec["reason"] and "not repeated" in rec["reason"], rec["reason"]


def test_a_lower_bound_is_never_ranked_and_one_as_high_is_named():
    results = [_result("sync-3", "gunicorn sync", 230.0, 180, search={"verdict": "instrument-bound"}),
               _result("gthread-1x8", "gunicorn gthread", 150.0, 70, search={"verdict": "within"}),
               _result("waitress-8", "waitress", 100.0, 60, search={"verdict": "within"})]
    rec = recommend.choose(results, cpus=1.0)
    assert rec["best"] == "gthread-1x8" and rec["runner_up"] == "waitress-8", rec
    assert rec["lower_bounds"] == ["sync-3"] and "at least 230.0" in rec["reason"]
    assert "might hold more" in rec["reason"], "a lower bound above the best is named"
    assert "1.50 x the runner-up" in rec["reason"], "ranked against a measured runner-up only"


def test_a_search_whose_steps_ran_out_still_passing_is_a_lower_bound():
    ran_out = {"steps": [{"rate_rps": 10, "passed": True}], "first_fail_rps": None, "verdict": "unbounded"}
    results = [_result("sync-3", "gunicorn sync", 100.0, 180, search=ran_out)]
    rec = recommend.choose(results, cpus=1.0)
    assert rec["verdict"] == "unranked" and rec["best"] is None, rec
    assert "at least 100.0" in rec["reason"]


def test_a_tie_is_decided_by_repeats_or_called_undecided():
    def pair(a, b):
        return [_result("sync-3", "gunicorn sync", a[0], 180, repeats=a),
                _result("gthread-1x8", "gunicorn gthread", b[0], 70, repeats=b)]
    # Every repeat of sync-3 above every repeat of gthread: sync-3, although heavier.
    rec = recommend.choose(pair([100.0, 101.0, 102.0], [97.0, 98.0, 99.0]), 1.0)
    assert rec["best"] == "sync-3" and rec["undecided"] == [], rec
    assert "in every repeat" in rec["reason"]
    # Straddling repeats: undecided, the lighter one named, and why.
    rec = recommend.choose(pair([100.0, 96.0, 102.0], [97.0, 101.0, 99.0]), 1.0)
    assert rec["best"] == "gthread-1x8" and rec["undecided"] == ["sync-3"], rec
    assert "undecided" in rec["reason"] and "100.0 req/s (96.0-102.0 over 3 repeats)" in rec["reason"]
    # Close, not repeated: asks for the repeats.
    assert [r["candidate"]["name"] for r in recommend.contenders(pair([100.0], [80.0]))] == \
        ["sync-3", "gthread-1x8"], "the best two are repeated whatever their first figures"
    assert recommend.contenders(pair([100.0, 101.0], [80.0, 79.0])) == [], "already repeated"
    # Repeated, far apart on the medians but straddling: undecided all the same.
    rec = recommend.choose(pair([120.0, 80.0, 118.0], [100.0, 97.0, 99.0]), 1.0)
    assert rec["undecided"], rec


def test_among_equals_a_figure_searched_once_is_not_picked_over_repeated_ones():
    # records/advise-gateway of 2026-12-06 21:31: gthread 1 x 43 (one search, the least
    # memory) tied with gevent 1 x 1000 (repeated) and was picked for its memory; its
    # family's sweep then held far more at 1 x 74.
    once = 100.0 * (1 - recommend.SEARCH_SPREAD) + 1.0  # within the noise of one search
    results = [_result("gevent-1x1000", "gunicorn gevent", 100.0, 62, repeats=[100.0, 90.0, 102.0]),
               _result("granian-1x47", "granian", 95.0, 63, repeats=[95.0, 99.0, 92.0]),
               _result("gthread-1x43", "gunicorn gthread", once, 48)]
    rec = recommend.choose(results, cpus=1.0)
    assert rec["best"] == "gevent-1x1000", f"expected the lighter repeated one, got {rec}"
    assert set(rec["undecided"]) == {"granian-1x47", "gthread-1x43"}, rec["undecided"]
    assert "picked among those searched more than once (gevent-1x1000, granian-1x47)" \
        in rec["reason"], rec["reason"]
    # Nothing repeated: memory among all the equals, as before.
    for r in results:
        r.pop("repeats", None)
    rec = recommend.choose(results, cpus=1.0)
    assert rec["best"] == "gthread-1x43" and "picked among" not in rec["reason"], rec


def test_a_repeat_that_was_a_lower_bound_is_kept_out_of_the_median_and_named():
    exact_search = {"verdict": "within", "first_fail_rps": 120.0}
    bounded = {"verdict": "host-bound", "lower_bound": True}
    best = _result("sync-3", "gunicorn sync", 100.0, 180, repeats=[100.0, 60.0, 104.0],
                   repeat_searches=[bounded, exact_search])
    assert recommend.figure(best).values == (100.0, 104.0), \
        "expected the bounded repeat (60.0) left out of the figure"
    assert recommend.bounded_repeats(best) == [60.0]
    assert "1 more repeat a lower bound (at least 60.0)" in recommend.held(best), recommend.held(best)
    other = _result("gthread-1x8", "gunicorn gthread", 97.0, 70, repeats=[97.0, 98.0, 99.0],
                    repeat_searches=[exact_search, exact_search])
    rec = recommend.choose([best, other], 1.0)
    assert rec["best"] == "sync-3" and not rec["undecided"], \
        f"expected sync-3 (100-104 against 97-99) decided, got {rec}"
    # Every repeat of the best a lower bound: one search against a spread decides nothing.
    alone = _result("sync-3", "gunicorn sync", 110.0, 180, repeats=[110.0, 99.0, 101.0],
                    repeat_searches=[bounded, bounded])
    rec = recommend.choose([alone, other], 1.0)
    assert rec["undecided"] and "were lower bounds" in rec["reason"], \
        f"expected undecided (110 once, the repeats at least 99 and 101, against 97-99), got {rec}"


def test_a_candidate_that_does_not_fit_the_memory_is_never_recommended():
    results = [_result("sync-33", "gunicorn sync", 500.0, 900, fits=False),

               _result("sync-3", "gunicorn sync", 100.0, 180)]
    assert recommend.choose(results, cpus=1.0)["best"] == "sync-3"


def test_when_nothing_meets_the_objective_it_says_what_cpu_the_target_needs():
    results = [_result("sync-3", "gunicorn sync", None, 180)]
    rec = recommend.choose(results, cpus=1.0, target_rps=350)
    assert rec["verdict"] == "none" and rec["best"] is None
    # 350 req/s x 4 ms of CPU = 1.4 CPU busy, at PLANNED_UTILISATION 70%: 2 CPUs.
    assert "needs 2 CPUs" in rec["needs"]


def test_the_command_to_paste_runs_the_users_app_not_the_instrument():
    assert families.paste_command(
        ["gunicorn", "--workers", "3", "labinstrument.wsgi:app"], "shop.wsgi:app") == \
        "gunicorn --workers 3 shop.wsgi:app"
    assert families.paste_command(
        ["python3", "-m", "labinstrument.launchers.waitress", "--threads", "8",
         "labinstrument.wsgi:app"], "shop.wsgi:app").startswith("waitress-serve --threads 8 ")
    conf = families.get("gunicorn-gthread").config_file(
        {"workers": 1, "worker_class": "gthread", "threads": 8, "worker_connections": 1000})
    assert conf == 'workers = 1\nworker_class = "gthread"\nthreads = 8\nworker_connections = 1000\n'


def test_diagnoses_name_the_blocking_function_the_late_patch_and_thread_only_errors():
    results = [
        _result("sync-3", "gunicorn sync", 100.0, 180),
        _result("gevent-1", "gunicorn gevent", 10.0, 60,
                blocked=[{"function": "slow_query", "file": "/srv/app/db.py", "line": 12}],
                processes={"7": {"patched_by": "gevent", "patched_before_app": False}}),
        _result("gthread-1x8", "gunicorn gthread", 80.0, 60, failures=12,
                by_path={"0": {"failures": 0, "latency_p99_ms": 40.0},
                         "1": {"failures": 12, "latency_p99_ms": 31_000.0}},
                log_errors=[{"exception": "psycopg.OperationalError",
                             "message": "sorry, too many clients already", "count": 12}]),
    ]
    results[1]["closed"]["server_peak"] = 1
    results[1]["settings"] = {"server": "gunicorn", "workers": 1, "master_pid": 1}
    found = {d["kind"]: d for d in diagnose.diagnose(results, 512 * MIB, 51.0,
                                                        ["GET /a", "POST /orders"])}
    assert "slow_query" in found["gevent hub blocked"]["summary"]
    assert "pinned at 1 with 1 worker" in found["gevent hub blocked"]["summary"]
    assert "--preload" in found["monkey-patching too late"]["summary"]
    errors = found["errors only under threads or greenlets"]
    assert errors["evidence"]["failures_by_path"] == {"POST /orders": 12}
    assert "too many clients already" in errors["summary"]
    assert "POST /orders" in found["requests past the timeout"]["summary"]
    assert found["memory per worker"]["evidence"]["workers_that_fit"] == (512 - 32) // 51


def test_the_blocked_hub_is_kept_once_per_distinct_stack_with_a_count():
    stack = [{"file": "/srv/app/db.py", "line": 12, "function": "slow_query"}]
    reports = ([{"pid": 7, "function": "slow_query", "frames": stack, "blocking_time_s": t}
                for t in (0.2, 0.5, 0.3)]
               + [{"pid": 8, "function": "render", "frames": [], "blocking_time_s": 0.1}])
    found = diagnose.distinct_blocked(reports)
    assert [(b["function"], b["count"], b["longest_s"]) for b in found] == [
        ("slow_query", 3, 0.5), ("render", 1, 0.1)]
    assert diagnose.distinct_blocked(found) == found, "a kept record reads the same again"
    result = _result("gevent-1x1000", "gunicorn gevent", 10.0, 60, blocked=found)
    (hub,) = [d for d in diagnose.diagnose([result], 512 * MIB, 51.0, ["GET /a"])
              if d["kind"] == "gevent hub blocked"]
    assert "4 time(s), from 2 distinct stack(s): slow_query (3x), render (1x)" in hub["summary"]


def test_a_candidate_with_every_slot_busy_and_cpu_to_spare_is_concurrency_bound():
    held = _result("gthread-1x8", "gunicorn gthread", 56.5, 40,
                   at_capacity={"app_cpus": 0.28})
    held["settings"] = {"server": "gunicorn", "worker_class": "gthread", "workers": 1,
                        "threads": 8, "worker_connections": 1000}
    held["closed"]["server_peak"] = 8
    busy = dict(held, at_capacity={"app_cpus": 0.85})
    demand = {"in_flight": 33, "service_ms": 140.0, "cpu_ms": 4.25}

    def kinds(rs):
        return {d["kind"]: d for d in diagnose.diagnose(rs, 256 * MIB, 26.0, ["GET /a"], 1.0, demand)}
    found = kinds([held])["concurrency-bound"]
    assert "all 8 slots busy while it used 0.28 of its 1 CPU" in found["summary"]
    assert "asks for 33 in flight" in found["summary"]
    assert "concurrency-bound" not in kinds([busy]), "its CPU, not its slots, held it"


def test_a_target_rate_gets_its_concurrency_and_cpus_each_from_its_own_measurement():
    demand = {"in_flight": 33, "service_ms": 140.0, "cpu_ms": 4.0}
    (need,) = [d for d in diagnose.diagnose([], 256 * MIB, 26.0, [], 1.0, demand, target_rps=300)
               if d["kind"] == "what the rate it must serve needs"]
    # 300 req/s x 0.14 s = 42 in flight; 300 x 4 ms = 1.2 CPU busy, at 70%: 1.8 CPUs.
    assert need["evidence"]["in_flight"] == 42
    assert "about 42 requests in flight" in need["summary"] and "about 1.8 CPUs" in need["summary"]


def test_a_healthy_run_has_only_the_memory_figure():
    results = [_result("sync-3", "gunicorn sync", 100.0, 180),
               _result("gthread-1x8", "gunicorn gthread", 80.0, 60)]
    kinds = [d["kind"] for d in diagnose.diagnose(results, 512 * MIB, 51.0, ["GET /a"])]
    assert kinds == ["memory per worker"]


def _class(completions, p99):
    return ClassResult(window_s=4.0, completions=completions, throughput_rps=completions / 4.0,
                       latency_mean_ms=p99 / 2, latency_p50_ms=p99 / 3, latency_p95_ms=p99 * 0.9,
                       latency_p99_ms=p99, app_time_ms=p99 / 3, cpu_time_ms=None,
                       app_inflight_s=completions * p99 / 3000)


def test_the_mix_reports_each_path_and_the_cpu_per_request():
    result = LevelResult(params={}, classes={"r0": _class(300, 30.0), "r1": _class(100, 90.0),
                                             "mix": _class(400, 80.0)},
                         server_peak=8, requests=420, failures=3,
                         counts={"failed_r1": 3}, dropped_iterations=0)
    mix = workload("mix")
    level = mix.level("sync-3", __import__("wsgilab.model.load", fromlist=["Closed"]).Closed(8),
                      {"mix_file": "/tmp/m.json", "mix_service_ms": 20})
    values = mix.figures(result, {"app_cpu_fraction": 0.5}, level, None)
    assert values["throughput_rps"] == 100.0
    assert values["cpu_ms_per_request"] == pytest.approx(5.0)  # 0.5 CPU / 100 req/s
    assert values["by_path"]["1"]["failures"] == 3
    assert values["by_path"]["0"]["latency_p99_ms"] == 30.0


def test_the_logs_exceptions_are_counted_without_compose_prefixes_or_warnings():
    from wsgilab.studies.advise.runner import log_errors

    lines = ["notes-1  | Traceback (most recent call last):",
             'notes-1  |   File "/srv/app/x.py", line 3, in view',
             "notes-1  | psycopg.OperationalError: connection failed: sorry, too many clients already",
             "notes-1  | psycopg.OperationalError: connection failed: sorry, too many clients already",
             "notes-1  | KeyError: 'tag'",
             "notes-1  | gevent.monkey.MonkeyPatchWarning: Patching more than once"]
    assert log_errors(lines) == [
        {"exception": "psycopg.OperationalError",
         "message": "connection failed: sorry, too many clients already", "count": 2},
        {"exception": "KeyError", "message": "'tag'", "count": 1}]


def test_the_host_is_blamed_only_when_others_used_the_candidates_cores():
    alone = _result("sync-5", "gunicorn sync", 220.0, 200, limits={"cpuset": "1"},
                    at_capacity={"app_cpus": 0.85, "host_busy_cpus": 0.9, "backend_cpus": {}})
    shared = _result("sync-3", "gunicorn sync", 220.0, 200, limits={"cpuset": "0-1"},
                     at_capacity={"app_cpus": 0.6, "host_busy_cpus": 1.8,
                                  "backend_cpus": {"postgres": 0.5}})
    def kinds(rs):
        return [d["kind"] for d in diagnose.diagnose(rs, 512 * MIB, 51.0, ["GET /a"], 1.0)]
    assert "the host, not the candidate" not in kinds([alone]), "its own core, busy with itself"
    found = {d["kind"]: d for d in diagnose.diagnose([shared], 512 * MIB, 51.0, ["GET /a"], 1.0)}
    assert "postgres 0.50" in found["the host, not the candidate"]["summary"]


def test_a_candidate_the_host_refused_everywhere_is_named_never_a_failure():
    refused = {"steps": [{"rate_rps": r, "passed": False, "refused": True} for r in (264, 185)]}
    results = [_result("sync-3", "gunicorn sync", 117.0, 140, search={"verdict": "instrument-bound"}),
               _result("gthread-1x8", "gunicorn gthread", None, 64, search=refused)]
    rec = recommend.choose(results, 1.0)
    assert rec["verdict"] == "unranked" and rec["best"] is None, "sync-3's is a lower bound"
    assert "at least 117.0" in rec["reason"]
    assert "gthread-1x8" in rec["reason"] and "host was full" in rec["reason"]
    alone = recommend.choose([results[1]], 1.0)
    assert alone["verdict"] == "host-bound" and "no candidate met" not in alone["reason"]


def test_the_sweep_runs_a_family_wider_than_the_search_and_its_processes_where_needed():
    demand = _demand()  # 20 in flight, 1 CPU
    granian = [c.knobs for c in candidates.sweep(families.get("granian"), demand)]
    threads = [k["blocking_threads"] for k in granian]
    assert threads == sorted(threads) and threads[0] <= 20 // 4 and threads[-1] >= 20 * 2, \
        f"expected an eighth to eight times the law's 20, got {threads}"
    gevent = candidates.sweep(families.get("gunicorn-gevent"), demand)
    workers = sorted(c.knobs["workers"] for c in gevent)
    assert workers[0] == 1 and len(workers) >= candidates.SWEEP_LEAST_POINTS, \
        f"a hub's sizing moves nothing with the count: its processes are swept, got {workers}"
    with pytest.raises(ValueError, match="not a candidate"):
        candidates.sweep(families.get("werkzeug"), demand)


def _advise_record(results, sweep=None):
    """A record of advise's results, concluded again when rendered, as a recorded one is."""
    app = {"name": "gateway", "cpus": 1.0, "memory": "256M", "requests": [
        {"method": "GET", "path": "/quote"}]}
    return BenchRecord(started="2026-12-06T16:00:00Z", options={"sweep": sweep} if sweep else {},
                       environment={}, advice={"app": app, "worker_mib": 30.0, "results": results})


def test_a_recommendation_is_checked_against_the_sweep_of_its_family():
    rec = _result("granian-1x40", "granian", 330.0, 60, repeats=[330.0, 340.0, 375.0])
    advised = _advise_record([rec])
    close = _advise_record([_result("granian-1x20", "granian", 300.0, 50),
                            _result("granian-1x80", "granian", 380.0, 70)], "granian")
    said = advice_report.sweep_check(advised, close)
    assert "within its spread" in said and "granian-1x80" in said, said
    far = _advise_record([_result("granian-1x80", "granian", 500.0, 70)], "granian")
    said = advice_report.sweep_check(advised, far)
    assert "the search missed it" in said and "1.33 x" in said, \
        f"expected 500 / 375 = 1.33 named (beyond SEARCH_SPREAD), got {said}"
    other = _advise_record([_result("waitress-80", "waitress", 500.0, 70)], "waitress")
    said = advice_report.sweep_check(advised, other)
    assert "does not check" in said and "1.33 x the recommendation's highest repeat" in said, \
        f"expected another family's 500 against 375 named as beyond the noise, got {said}"
    other = _advise_record([_result("waitress-80", "waitress", 400.0, 70)], "waitress")
    said = advice_report.sweep_check(advised, other)
    assert "does not check" in said and "within SEARCH_SPREAD" in said, said
    other = _advise_record([_result("waitress-80", "waitress", 200.0, 70)], "waitress")
    said = advice_report.sweep_check(advised, other)
    assert "0.53 x the recommendation's highest repeat, below it" in said, said


def test_two_runs_agree_on_one_pick_or_on_a_tie_and_else_disagree():
    def run(first, second, a, b):
        return _advise_record([_result(first, "granian", a[0], 60, repeats=a),
                               _result(second, "gunicorn gevent", b[0], 50, repeats=b)])
    clear = run("granian-1x40", "gevent-1x1000", [400.0, 405.0, 410.0], [300.0, 305.0, 310.0])
    assert "Both runs recommend granian-1x40" in advice_report.rerun_check(clear, clear)
    # Straddling repeats: undecided, gevent named for its smaller memory.
    tied = run("granian-1x40", "gevent-1x1000", [400.0, 300.0, 410.0], [350.0, 305.0, 360.0])
    said = advice_report.rerun_check(tied, clear)
    assert "The runs disagree" in said, f"a tie then a clear other pick is no agreement: {said}"
    assert "undecided against granian-1x40" in said, said
    said = advice_report.rerun_check(tied, tied)
    assert "Both runs recommend gevent-1x1000" in said and "what it weighed among equals" in said, said


def test_memory_that_grows_with_requests_is_named_and_warm_up_is_not():
    leaking = [[1000 * i, (60 + 10 * i) * MIB] for i in range(1, 7)]  # 10 MiB per 1,000
    found = diagnose.diagnose([_result("sync-3", "gunicorn sync", 100.0, 180,
                                       memory_by_requests=leaking)], 256 * MIB, 40.0, ["GET /"])
    leak = [d for d in found if d["kind"] == "memory grows with requests served"]
    assert leak, f"expected a leak named, got {[d['kind'] for d in found]}"
    assert leak[0]["evidence"]["bytes_per_request"] == round(10 * MIB / 1000)
    assert leak[0]["evidence"]["until_limit_requests"] == round((256 - 120) * 1000 / 10), leak[0]
    # granian 1 x 128 in records/advise-gateway: +20.8 MiB as its threads started.
    warming = [[2000 * i, (40 + min(i, 4) * 5) * MIB] for i in range(1, 7)]
    found = diagnose.diagnose([_result("granian-1x128", "granian", 100.0, 60,
                                       memory_by_requests=warming)], 256 * MIB, 40.0, ["GET /"])
    assert not [d for d in found if d["kind"] == "memory grows with requests served"], found


def test_each_family_gets_its_own_cpu_per_request_and_the_laws_count_with_it():
    law = _result("granian-1x6", "granian", 430.0, 51, sized_by="law",
                  settings={"server": "granian", "workers": 1})
    law["cpu_ms_per_request"] = 0.69
    rule = _result("gthread-1x8", "gunicorn gthread", 464.0, 39, rules=("cloud-run",), sized_by="law")
    record = _advise_record([law, rule])
    record.advice["demand"] = sizing.Demand.of(0.5, 16.9, 1.48, 6).to_dict()
    rows = advice_report.model_rows(record)
    assert [r[1] for r in rows] == ["granian-1x6"], "one row per family, from the law's candidate"
    assert rows[0][3] == str(math.ceil(0.5 * 16.9 / 0.69)), \
        f"expected the law with granian's own 0.69 ms (13 in flight), got {rows[0]}"


def test_a_sweep_whose_best_is_the_recommendation_itself_is_not_a_missed_configuration():
    rec = _result("waitress-2", "waitress", 184.0, 49, repeats=[184.0, 159.0, 194.5])
    sweep = _advise_record([_result("waitress-2", "waitress", 260.0, 49),
                            _result("waitress-1", "waitress", 120.0, 40)], "waitress")
    said = advice_report.sweep_check(_advise_record([rec]), sweep)
    assert "the same configuration" in said and "missed" not in said, said
    # One search 1.08 x the highest repeat: within SEARCH_SPREAD of it, no call on noise.
    sweep.advice["results"][0]["capacity_rps"] = 210.5
    said = advice_report.sweep_check(_advise_record([rec]), sweep)
    assert f"within its spread (SEARCH_SPREAD {recommend.SEARCH_SPREAD:.0%}" in said, said


def test_among_equals_one_that_a_slow_request_cannot_stall_is_picked_and_the_reason_says_so():
    gthread = {"server": "gunicorn", "workers": 1, "threads": 2, "worker_class": "gthread",
               "worker_connections": 2}
    sync = {"server": "gunicorn", "workers": 1, "threads": 1, "worker_class": "sync"}
    results = [_result("sync-1", "gunicorn sync", 300.0, 51, settings=sync),
               _result("gthread-1x2", "gunicorn gthread", 298.0, 61, settings=gthread)]
    rec = recommend.choose(results, cpus=0.5)
    assert rec["best"] == "gthread-1x2" and rec["undecided"], rec
    assert "runs 2 requests at once where sync-1 runs one" in rec["reason"], rec["reason"]
