"""Your own app, end to end on the real engine: the light advise run on the shop (Flask,
SQLAlchemy, PostgreSQL) measures its candidates and recommends one, renders its page, and
leaves the lab as declared with nothing of the app's project left running; the Django
example passes its smoke pass; an app that does not import, and a mix with a path that
answers 404, stop before any load with what went wrong shown."""

from __future__ import annotations

import shutil

import pytest

from support import ROOT
from wsgilab import cli
from wsgilab.lab.engine import DockerEngine
from wsgilab.lab.session import LabSession
from wsgilab.model import app as declaration
from wsgilab.model.record import BenchRecord
from wsgilab.studies.advise import runner
from wsgilab.verdicts import recommend

EXAMPLES = ROOT / "examples"


def _advise(args: list[str]) -> tuple[int, str]:
    lines: list[str] = []
    status = cli.advise(args, out=lines.append)
    return status, "\n".join(lines)


def _project_containers(name: str) -> list[str]:
    import docker

    return [c.name for c in docker.from_env().containers.list(
        all=True, filters={"label": f"com.docker.compose.project=wsgi-lab-{name}"})]


def test_the_light_run_on_the_shop_recommends_a_measured_candidate_or_names_the_host(lab, tmp_path):
    """The shop's PostgreSQL shares the load core with k6 and nginx here: where that core
    is full, a step is refused (the host, not the app, was measured) and the search steps
    down; a candidate refused at every rate is named as not measured on this machine,
    never as one that missed the objective."""
    results = tmp_path / "shop"
    status, printed = _advise([str(EXAMPLES / "shop"), "--light", "--results", str(results)])
    assert status == 0, f"advise exited {status}:\n{printed}"
    record = BenchRecord.load(results)
    advice = record.advice
    assert record.status == "complete", record.status
    assert [s["status"] // 100 for s in advice["smoke"]] == [2] * len(advice["smoke"])
    measured = advice["results"]
    assert [r["candidate"]["family"] for r in measured][:2] == ["gunicorn-sync", "gunicorn-gthread"]
    assert any("cloud-run" in r["candidate"]["rules"] for r in measured), "the reference 1 x 8"
    for r in measured:
        assert "error" not in r, f"{r['candidate']['name']}: {r.get('error')}\n{r.get('log')}"
        assert r["closed"]["failures"] == 0, f"{r['candidate']['name']} failed requests"
        assert r["search"]["steps"], f"{r['candidate']['name']}: no search step ran"
        assert r["memory_peak_bytes"] and r["memory_peak_bytes"] <= 512 * 2**20
    rec = advice["recommendation"]
    refused = [r["candidate"]["name"] for r in measured
               if all(s.get("refused") for s in r["search"]["steps"])]
    assert "no candidate met the objective" not in printed or not refused, printed
    if rec["verdict"] == "host-bound":  # the host was full at every rate, for every one
        assert sorted(refused) == sorted(r["candidate"]["name"] for r in measured), rec
        assert "host was full" in rec["reason"] and "not measured on this machine" in printed
        return
    # Little's law sized both from the probe's own level.
    demand = advice["demand"]
    assert demand["in_flight"] >= 1 and demand["cpu_ms"] > 0, demand
    assert all("Little's law" in r["candidate"]["why"] for r in measured if not r["candidate"]["rules"])
    bounds = [r for r in measured if recommend.lower_bound(r)]
    assert sorted(rec["lower_bounds"]) == sorted(r["candidate"]["name"] for r in bounds), rec
    assert all(f"at least {r['capacity_rps']:.1f}" in printed for r in bounds), printed
    if rec["verdict"] == "unranked":  # every capacity a lower bound: none ranked
        assert len(bounds) == len([r for r in measured if r.get("capacity_rps")]), rec
        return
    assert rec["verdict"] == "recommended", rec
    best = next(r for r in measured if r["candidate"]["name"] == rec["best"])
    assert best not in bounds, "a lower bound is never ranked"
    ranked = [r for r in measured if recommend.exact(r)]
    assert best["capacity_rps"] == max(r["capacity_rps"] for r in ranked) or \
        "in less memory" in rec["reason"], rec
    assert all(name in rec["reason"] for name in refused), (refused, rec["reason"])
    assert f"deploy {rec['best']}: gunicorn" in printed and "shop.wsgi:app" in printed
    assert (results / "report.html").read_text().count(rec["best"]) >= 2
    assert (results / "advice-capacity.png").stat().st_size > 10_000
    # Put back: the lab's configurations on their cores, nothing of the shop's left.
    assert LabSession(DockerEngine(), out=lambda line: None).drift() == {}
    assert _project_containers("shop") == []


def test_a_wait_heavy_app_is_sized_past_eight_threads_and_holds_more_than_eight(lab, tmp_path):
    """The gateway waits on the upstream service through requests for most of each
    request: Little's law asks for tens in flight, and the law's gthread candidate holds
    more than Cloud Run's fixed 1 x 8, measured in the same run."""
    results = tmp_path / "gateway"
    status, printed = _advise([str(EXAMPLES / "gateway"), "--light", "--results", str(results)])
    assert status == 0, f"advise exited {status}:\n{printed}"
    advice = BenchRecord.load(results).advice
    demand = advice["demand"]
    assert demand["in_flight"] > 8, (
        f"expected Little's law to ask for more than 8 in flight for requests that mostly "
        f"wait, measured {demand}")
    by_rule = {bool(r["candidate"]["rules"]): r for r in advice["results"]
               if r["candidate"]["family"] == "gunicorn-gthread"}
    law, eight = by_rule[False], by_rule[True]
    for r in (law, eight):
        assert "error" not in r and r["closed"]["failures"] == 0, r.get("error") or r["closed"]
    assert law["settings"]["threads"] == demand["in_flight"] and eight["settings"]["threads"] == 8
    assert recommend.exact(eight), f"1 x 8 measured to its top here: {eight['search']}"
    assert law["capacity_rps"] > eight["capacity_rps"] * (1 + recommend.SAME_CAPACITY), (
        f"expected {law['candidate']['name']} above 1 x 8 by more than SAME_CAPACITY, measured "
        f"{law['capacity_rps']} against {eight['capacity_rps']} req/s")
    rec = advice["recommendation"]
    if rec["verdict"] == "recommended":
        assert rec["best"] != eight["candidate"]["name"], rec
    assert _project_containers("gateway") == []


def test_an_app_in_a_src_layout_is_installed_as_pip_would_and_passes_its_smoke_pass(lab, tmp_path):
    where = tmp_path / "gateway-src"
    shutil.copytree(EXAMPLES / "gateway", where)
    (where / "src").mkdir()
    shutil.move(where / "gateway", where / "src" / "gateway")
    (where / "pyproject.toml").write_text(
        '[project]\nname = "gateway-app"\nversion = "0.1"\ndependencies = ["flask", "requests"]\n'
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n')
    toml = where / "lab-app.toml"
    toml.write_text(toml.read_text().replace('name = "gateway"', 'name = "gateway-src"'))
    status, printed = _advise([str(where), "--smoke", "--results", str(tmp_path / "run")])
    assert status == 0, f"advise --smoke exited {status}:\n{printed}"
    advice = BenchRecord.load(tmp_path / "run").advice
    assert advice["app"]["project"] == "gateway-app"
    assert all(200 <= s["status"] < 300 for s in advice["smoke"]), advice["smoke"]
    assert not list(where.glob("**/*.egg-info")), "the user's folder is left as it was"
    assert _project_containers("gateway-src") == []


def test_the_gateway_on_free_threaded_python_leaves_out_only_what_has_no_wheel(lab, tmp_path):
    """--python 3.13t: the app staged by that interpreter's pip, gevent's and uWSGI's
    families left out in pip's words, the rest measured on 3.13t (every level checks the
    interpreter it ran on); --pythons 3.11: the winner measured again on the base image's."""
    results = tmp_path / "gateway-313t"
    status, printed = _advise([str(EXAMPLES / "gateway"), "--light", "--python", "3.13t",
                               "--pythons", "3.11", "--results", str(results)])
    assert status == 0, f"advise exited {status}:\n{printed}"
    record = BenchRecord.load(results)
    out = record.advice["python"]["left_out_families"]
    assert {"gunicorn-gevent", "uwsgi-threads"} <= set(out), out
    assert all("has no wheel for Python 3.13t" in why for why in out.values()), out
    assert "left out gunicorn-gevent" in printed
    measured = record.advice["results"]
    assert measured and not [r for r in measured if r["candidate"]["family"] in out]
    on_313t = [e for e in record.levels if e.level.variant.python == "3.13t"]
    assert on_313t and all(e.level.variant.python in ("3.13t", None) for e in record.levels)
    runtime = record.advice["runtime"]["python"]
    assert runtime["version"].startswith("3.13.") and runtime["free_threaded_build"], runtime
    rec = record.advice["recommendation"]
    assert rec["verdict"] in ("recommended", "unranked"), rec
    if rec["verdict"] == "recommended":  # the winner, measured again on the base image's 3.11
        (again,) = record.advice["pythons"]
        assert again["python"] == "3.11" and again["result"]["candidate"]["name"] == rec["best"]
        steps = (again["result"].get("search") or {}).get("steps") or []
        # A capacity, or a host that was full at every rate tried (named, never a failure).
        assert again["result"].get("capacity_rps") or (steps and all(s.get("refused") for s in steps)), \
            again["result"].get("search")
        assert "on Python 3.11: the same configuration held" in printed
    assert _project_containers("gateway") == []


def test_httpbin_as_it_comes_runs_with_gevents_families_left_out_in_pips_words(lab, tmp_path):
    """httpbin 0.10.4 from the package index asks for greenlet<3.0 on Python 3.11, which
    gevent 26's greenlet 3 does not meet: gevent's two families are left out with pip's
    account of the conflict, and the app, installed from its wheel with the other families'
    pins only, passes its smoke pass under the probe."""
    status, printed = _advise([str(EXAMPLES / "httpbin"), "--smoke", "--results", str(tmp_path)])
    assert status == 0, f"advise --smoke exited {status}:\n{printed}"
    advice = BenchRecord.load(tmp_path).advice
    out = advice.get("left_out_families", {})
    assert sorted(out) == ["gunicorn-gevent", "uwsgi-gevent"], f"expected gevent's families, got {out}"
    assert all("httpbin 0.10.4 depends on greenlet<3.0" in why for why in out.values()), out
    assert "gunicorn-gevent left out (its pins conflict with the app's requirements)" in printed
    assert all(200 <= s["status"] < 300 for s in advice["smoke"]), advice["smoke"]
    assert _project_containers("httpbin") == []


def test_the_django_example_passes_its_smoke_pass(lab, tmp_path):
    status, printed = _advise([str(EXAMPLES / "notes"), "--smoke", "--results", str(tmp_path)])
    assert status == 0, f"advise --smoke exited {status}:\n{printed}"
    advice = BenchRecord.load(tmp_path).advice
    assert all(200 <= s["status"] < 300 for s in advice["smoke"]), advice["smoke"]
    assert advice["service_ms"] > 0 and advice["worker_mib"] > 10
    declared = declaration.load(EXAMPLES / "notes").cpus
    assert advice["container"]["cfs_quota_cpus"] == pytest.approx(declared), \
        f"expected the declared quota {declared} read back, got {advice['container']['cfs_quota_cpus']}"
    assert _project_containers("notes") == []


@pytest.fixture
def broken(tmp_path):
    """The shop, renamed (its own images and project), to break."""
    where = tmp_path / "broken"
    shutil.copytree(EXAMPLES / "shop", where)
    toml = where / "lab-app.toml"
    toml.write_text(toml.read_text().replace('name = "shop"', 'name = "broken"'))
    return where


def test_an_app_that_does_not_import_stops_with_its_traceback(lab, broken, tmp_path):
    wsgi = broken / "shop" / "wsgi.py"
    wsgi.write_text("import a_module_nobody_installed  # noqa\n" + wsgi.read_text())
    status, printed = _advise([str(broken), "--results", str(tmp_path / "run")])
    assert status == runner.APP_FAILED, f"exited {status}:\n{printed}"
    assert "never became healthy" in printed
    assert "ModuleNotFoundError: No module named 'a_module_nobody_installed'" in printed
    assert not BenchRecord.load(tmp_path / "run").levels, "load was sent to a broken app"
    assert _project_containers("broken") == []


def test_a_path_that_answers_404_stops_before_any_load(lab, broken, tmp_path):
    toml = broken / "lab-app.toml"
    toml.write_text(toml.read_text().replace('path = "/stats"', 'path = "/no-such-page"'))
    status, printed = _advise([str(broken), "--results", str(tmp_path / "run")])
    assert status == runner.APP_FAILED, f"exited {status}:\n{printed}"
    assert "GET /no-such-page answered 404" in printed
    record = BenchRecord.load(tmp_path / "run")
    assert not record.levels and record.status.startswith("stopped: the smoke pass failed")
    assert _project_containers("broken") == []
