"""Python as an axis: the declared interpreters, how a level picks one, what is staged for
an ABI without a wheel, and the checks that keep a free-threaded level honest."""

import pytest

from wsgilab.lab import compose, measure, pythons, session
from wsgilab.model import interpreters
from wsgilab.model.facts import gil_off
from wsgilab.model.levels import Variant
from wsgilab.model.theory import FREE_THREADED_UNBOUNDED, Capacity, without_gil
from wsgilab.studies import python as python_bench
from wsgilab.studies.options import with_python


def test_the_free_threaded_build_and_its_twin_differ_only_by_the_gil():
    known = interpreters.declared()
    threaded, twin = known["3.13t"], known["3.13"]
    assert threaded.free_threaded and not twin.free_threaded
    assert (threaded.source, threaded.suite) == (twin.source, twin.suite), \
        "the twin must be built from the same source package"
    assert set(threaded.configure) - set(twin.configure) == {"--disable-gil"}, \
        f"flags other than --disable-gil differ: {threaded.configure} vs {twin.configure}"
    assert interpreters.twin(threaded) == twin, "the report compares the build with this twin"
    assert interpreters.twin(twin) is None
    assert known[interpreters.DEFAULT].system


def test_a_built_interpreter_must_say_where_it_comes_from(tmp_path):
    path = tmp_path / "interpreters.toml"
    path.write_text('[interpreters."3.14"]\nbinary = "/opt/python/3.14/bin/python3.14"\n')
    with pytest.raises(ValueError, match="source and suite"):
        interpreters.declared(path)


def test_an_unknown_python_names_the_declared_ones():
    with pytest.raises(ValueError, match="3.13t"):
        with_python(Variant(), "2.7")
    with pytest.raises(ValueError, match="3.13t"):
        Variant(python="2.7").env("gunicorn-sync")


def test_a_record_that_names_an_interpreter_since_removed_still_loads():
    gone = Variant.from_dict({"cpus": 2.0, "python": "3.9t"})
    assert gone.python == "3.9t" and "python=3.9t" in gone.describe()
    kept = interpreters.get("3.13t").to_dict()
    assert interpreters.Interpreter.from_dict(kept) == interpreters.get("3.13t")


def test_a_variant_on_another_python_picks_its_image_and_stage():
    variant = Variant(cpus=2.0, cpuset="0-1", python="3.13t")
    env = variant.env("gunicorn-sync")
    assert env["PYTHON_IMAGE"] == "wsgi-lab/python:3.13t"
    assert env["APP_IMAGE_TAG"] == "py3.13t" and env["APP_SERVERS"] == "staged"
    assert env["APP_CPUS"] == "2"
    assert variant.tag == "py3.13t-cpus2-cpuset0-1"
    assert "python=3.13t" in variant.describe()
    assert Variant.from_dict(variant.to_dict()) == variant
    assert Variant.from_dict({"cpus": 1.0}).python is None, "records before the axis load"
    assert Variant(python=interpreters.DEFAULT).env("x") == {}, "the base image's Python needs nothing"


def test_the_compose_model_builds_one_image_per_python():
    env = interpreters.get("3.13t").env()
    svc = compose.config(env)["services"]["gunicorn-sync"]
    assert svc["image"] == "wsgi-lab/app-demo:py3.13t"
    assert svc["build"]["args"]["PYTHON_IMAGE"] == "wsgi-lab/python:3.13t"
    assert svc["build"]["args"]["PYTHON_BIN"] == interpreters.get("3.13t").binary
    default = compose.config()["services"]["gunicorn-sync"]
    assert default["image"] == "wsgi-lab/app-demo:dev"
    assert default["build"]["args"]["PYTHON_IMAGE"] == default["build"]["args"]["BASE_IMAGE"]


def test_a_pin_without_a_wheel_is_substituted_within_its_major_or_left_out(monkeypatch, tmp_path):
    wheels = {"flask==3.1.3": "flask==3.1.3", "granian<3": "granian==2.7.9"}
    said = {"granian==2.8.7": "ERROR: No matching distribution found for granian==2.8.7",
            "gevent==26.9.0": "ERROR: Could not find a version that satisfies the requirement "
                              "gevent==26.9.0 (from versions: none)\nERROR: No matching "
                              "distribution found for gevent==26.9.0"}
    asked = []

    def download(python, requirement, dest):
        asked.append(requirement)
        return wheels.get(requirement), said.get(requirement, "ERROR: none")

    monkeypatch.setattr(pythons, "_download", download)
    found = pythons.wheelhouse(tmp_path / "python3", ["flask==3.1.3", "granian==2.8.7",
                                                      "gevent==26.9.0"], tmp_path / "w")
    assert found.kept == ["flask==3.1.3"]
    assert found.substituted == {"granian==2.8.7": (
        "granian==2.7.9", "No matching distribution found for granian==2.8.7")}
    assert list(found.left_out) == ["gevent==26.9.0"]
    assert "from versions: none" in found.left_out["gevent==26.9.0"], "pip's own words"
    assert found.requirements() == "flask==3.1.3\ngranian==2.7.9\n"
    assert "gevent<27" in asked, "the substitute is sought within the pinned major version"
    assert pythons.Wheelhouse.from_dict(found.to_dict()) == found


def test_the_gil_check_names_the_module_that_turned_it_on():
    assert measure.gil_check("3.13", {"1": {"gil_enabled": True}}) is None, "a GIL build: no check"
    assert measure.gil_check(None, {"1": {"gil_enabled": True}}) is None
    check, count = measure.gil_check("3.13t", {
        "7": {"gil_enabled": False, "gil_enabled_by": []},
        "8": {"gil_enabled": True, "gil_enabled_by": ["gevent._gevent_c_hub_local"]}})
    assert count == 1
    problem = check.problem(count)
    assert problem and "gevent._gevent_c_hub_local" in problem, problem
    check, count = measure.gil_check("3.13t", {"7": {"gil_enabled": False}})
    assert count == 0 and check.problem(count) is None


def test_a_container_on_another_python_than_declared_is_not_measured():
    threaded = {"python": {"version": "3.13.5", "free_threaded_build": True}}
    assert session.python_mismatch("3.13t", threaded) is None
    assert "not 3.13t" in session.python_mismatch(
        "3.13t", {"python": {"version": "3.11.2", "free_threaded_build": False}})
    assert "not 3.13" in session.python_mismatch("3.13", threaded)
    assert session.python_mismatch(None, {}) is None


def test_without_the_gil_threads_count_as_parallel():
    gthread = Capacity(limit=8, formula="workers x threads = 1 x 8", parallelism=1)
    assert without_gil(gthread).parallelism == 8
    greenlets = Capacity(limit=1000, formula="...", parallelism=1, event_loop=True)
    assert without_gil(greenlets) == greenlets, "greenlets share one thread, GIL or not"
    unbounded = Capacity(limit=None, formula="a thread per connection", parallelism=1)
    assert without_gil(unbounded).parallelism == FREE_THREADED_UNBOUNDED
    answer = {"processes": {"7": {"gil_enabled": False}, "8": {"gil_enabled": False}}}
    assert gil_off(answer)
    answer["processes"]["8"]["gil_enabled"] = True
    assert not gil_off(answer)
    assert not gil_off({"processes": {}}), "nothing reported is not GIL-free"


def test_worker_memory_is_the_mean_pss_of_the_app_processes():
    processes = {"7": {"memory": {"pss_bytes": 40 * 2**20}}, "8": {"memory": {"pss_bytes": 60 * 2**20}},
                 "9": {"memory": {}}}
    assert measure.worker_memory(processes) == pytest.approx(50.0)
    assert measure.worker_memory({}) is None


def test_the_python_plan_compares_every_interpreter_and_checks_concurrency_without_the_gil():
    roles = compose.roles()
    levels = python_bench.plan(roles, ("3.11", "3.13t"))
    cpu = [lv for lv in levels if lv.workload == "cpu"]
    assert len(cpu) == 2 * len(python_bench.CPU_ROLES)
    assert {lv.variant.python for lv in cpu} == {None, "3.13t"}
    assert all(lv.variant.cpus == 2.0 and lv.variant.cpuset == "0-1" for lv in cpu)
    others = [lv for lv in levels if lv.workload != "cpu"]
    assert others and all(lv.variant.python == "3.13t" for lv in others), \
        "io and db run on the free-threaded build only"
    light = python_bench.plan(roles, (), light=True)
    assert [(lv.configuration, lv.variant.python) for lv in light] == [
        (roles[python_bench.LIGHT_ROLE][0], python_bench.LIGHT_PYTHON)]


def test_any_run_can_be_on_another_python():
    from wsgilab.studies import options

    opts = options.parse(["--workloads", "io", "--services", "gunicorn-sync", "--vus", "4",
                          "--python", "3.13t", "--check"])
    assert opts.limits.python == "3.13t"
    (level,) = opts.plan
    assert level.variant.over(opts.limits).python == "3.13t"
    with pytest.raises(options.OptionError, match="--python: unknown Python '2.7'"):
        options.parse(["--workloads", "io", "--python", "2.7", "--check"])
