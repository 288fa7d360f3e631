"""Levels and variants: names, compose variables, round trips."""

import pytest

from wsgilab.model.levels import Level, Variant, cpuset_size, knob_variable, memory_bytes
from wsgilab.model.load import Closed
from wsgilab.workloads import get


def test_a_level_names_its_workload_in_files_and_test_ids():
    level = get("io").level("gunicorn-sync", Closed(10))
    assert level.slug == "io-vus-010"
    assert level.test_id == "gunicorn-sync-io-vus-010"


def test_a_variant_is_part_of_the_name():
    level = get("cpu").level("gunicorn-sync", Closed(8), {}, Variant(cpus=0.5, cpuset="0-1"))
    assert level.slug == "cpu-cpus0.5-cpuset0-1-vus-008"
    knobbed = get("cpu").level("gunicorn-sync", Closed(16), {}, Variant(cpus=1.0, knobs=(("workers", "8"),)))
    assert knobbed.slug == "cpu-workers8-cpus1-vus-016"
    assert "workers=8, cpus=1" in knobbed.describe()


def test_repeats_are_named_but_share_a_case():
    level = get("io").level("gunicorn-sync", Closed(10))
    again = Level(**{**level.__dict__, "repeat": 2})
    assert again.slug == "io-vus-010-r2" and again.case() == level


def test_variant_env_sets_limits_and_knobs():
    variant = Variant(cpus=0.5, memory="512M", pids=128, cpuset="0-1",
                      knobs=(("workers", "8"),))
    assert variant.env("gunicorn-sync") == {
        "APP_CPUS": "0.5", "APP_MEMORY": "512M", "APP_PIDS": "128", "APP_CPUSET": "0-1",
        "GUNICORN_SYNC_WORKERS": "8"}
    assert knob_variable("gunicorn-gthread-1x8", "threads") == "GUNICORN_GTHREAD_1X8_THREADS"


def test_a_level_variant_wins_over_the_run_limits():
    run = Variant(cpus=0.5, memory="512M")
    assert Variant(cpus=2.0).over(run) == Variant(cpus=2.0, memory="512M")
    assert not Variant() and Variant().over(run) == run


@pytest.mark.parametrize("kwargs", [{"cpus": 0}, {"cpuset": "a"}, {"memory": "1T"},
                                    {"pids": 0}, {"knobs": (("Workers", "1"),)}])
def test_a_malformed_variant_is_refused(kwargs):
    with pytest.raises(ValueError):
        Variant(**kwargs)


def test_memory_and_cpuset_parsing():
    assert memory_bytes("512M") == 512 * 2**20 and memory_bytes("1G") == 2**30
    assert cpuset_size("0-1") == 2 and cpuset_size("1") == 1 and cpuset_size("0,2-3") == 3


def test_levels_round_trip_through_dicts():
    level = get("mixed").level("gunicorn-gevent", Closed(4), {"cpu_ms": 80},
                               Variant(knobs=(("workers", "1"),)))
    again = Level.from_dict(level.to_dict())
    assert again == level and again.slug == level.slug and again.param("cpu_ms") == 80
