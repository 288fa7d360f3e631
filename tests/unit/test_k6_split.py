"""A level split across k6 instances when one of them dies: the level stops with a named
cause (which instance, its exit status, its log's end), the other instances are waited for
or killed, and no k6 outlives it. The instances here are shell commands standing in for k6
(``k6.command`` replaced): nothing is sent."""

from __future__ import annotations

import time

import pytest

from wsgilab.lab import k6
from wsgilab.model import segments


def _fake(exits: dict[str, str]):
    """``k6.command`` for a split level: each instance a shell that prints its segment and
    runs ``exits[segment]`` (default: a short sleep, exit 0)."""
    def command(script, params, raw_path=None, segment=None):
        body = exits.get(segment.segment, "sleep 0.2")
        return ["/bin/sh", "-c", f"echo segment {segment.segment}; {body}"]
    return command


def _split(tmp_path, n: int, timeout_s: float = 30.0):
    parts = segments.parts(n)
    return parts, dict(parts=parts, log_paths=[tmp_path / f"{i}.log" for i in range(n)],
                       raw_paths=[tmp_path / f"{i}.raw" for i in range(n)],
                       summary_paths=[tmp_path / f"{i}.json" for i in range(n)],
                       timeout_s=timeout_s)


def test_an_instance_that_dies_stops_the_level_with_its_name(tmp_path, monkeypatch):
    parts, kw = _split(tmp_path, 2)
    monkeypatch.setattr(k6, "command", _fake({parts[1].segment: "echo dying >&2; exit 3"}))
    with pytest.raises(k6.K6Error) as caught:
        k6.run_split("io.js", {}, **kw)
    said = str(caught.value)
    assert f"k6 instance 2 of 2 ({parts[1].segment}) exited with 3" in said, said
    assert "dying" in said, f"expected the instance's log's end, got {said!r}"


def test_an_instance_that_hangs_is_killed_with_the_others_at_the_timeout(tmp_path, monkeypatch):
    parts, kw = _split(tmp_path, 2, timeout_s=1.0)
    monkeypatch.setattr(k6, "command", _fake({parts[0].segment: "exec sleep 30"}))
    started = time.monotonic()
    with pytest.raises(k6.K6Error, match="ran past 1 s and every instance was killed"):
        k6.run_split("io.js", {}, **kw)
    assert time.monotonic() - started < 10, "the hung instance outlived the level's timeout"


def test_instances_that_all_finish_report_each_ones_time(tmp_path, monkeypatch):
    _, kw = _split(tmp_path, 3)
    monkeypatch.setattr(k6, "command", _fake({}))
    runs = k6.run_split("io.js", {}, **kw)
    assert len(runs) == 3 and all(r.wall_s >= 0.2 for r in runs), runs
