"""Configuration names are data: the engine names roles, and the compose labels say which
configurations play each (one or several; code that needs one takes the first)."""

from __future__ import annotations

import ast

import pytest

from support import ROOT
from wsgilab import families as servers
from wsgilab.lab import compose
from wsgilab.model.record import BenchRecord
from wsgilab.model.roles import ROLES, normalised, player, players
from wsgilab.workloads.base import PlanRequest

ENGINE = ROOT / "wsgilab"


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def test_every_role_has_a_player(fake_compose):
    played = compose.roles()
    assert set(played) == set(ROLES), (
        f"roles without a configuration: {sorted(set(ROLES) - set(played))}; "
        f"labels naming no role: {sorted(set(played) - set(ROLES))}")
    assert all(names and names == sorted(names) for names in played.values()), played
    assert {c for names in played.values() for c in names} <= set(fake_compose.configurations())


def _also_plays(fake_compose, monkeypatch, configuration, role):
    model = fake_compose.config()
    labels = model["services"][configuration]["labels"]
    labels["lab.roles"] = ",".join(filter(None, [labels.get("lab.roles"), role]))
    monkeypatch.setattr(compose, "config", lambda env=None: model)


def test_a_role_can_have_several_players_sorted(fake_compose, monkeypatch):
    _also_plays(fake_compose, monkeypatch, "gunicorn-gthread", "sync-workers")
    played = compose.roles()
    assert played["sync-workers"] == ["gunicorn-gthread", "gunicorn-sync"]
    assert player(played, "sync-workers") == "gunicorn-gthread"
    assert played["gthread-workers"] == ["gunicorn-gthread"], "its own role is untouched"


def test_one_configuration_is_the_first_player_and_none_is_none():
    roles = {"sync-workers": ["a", "b"], "dev-server": []}
    assert players(roles, "sync-workers") == ["a", "b"] and player(roles, "sync-workers") == "a"
    assert players(roles, "dev-server") == [] and player(roles, "dev-server") is None
    assert players(roles, "gevent-workers") == [] and player(roles, "gevent-workers") is None
    assert players({"sync-workers": "a"}, "sync-workers") == ["a"], "the one-player shape"
    assert normalised({"sync-workers": "a", "dev-server": ["c", "b"]}) == {
        "sync-workers": ["a"], "dev-server": ["c", "b"]}


def test_records_of_one_player_per_role_load_as_lists():
    old = {"started": "2026-01-01T00:00:00+00:00", "roles": {"sync-workers": "gunicorn-sync"}}
    record = BenchRecord.from_dict(old)
    assert record.roles == {"sync-workers": ["gunicorn-sync"]}
    assert BenchRecord.from_dict(record.to_dict()).roles == record.roles


def test_a_plan_runs_a_role_on_its_first_selected_player():
    roles = {"sync-workers": ["gunicorn-a", "gunicorn-b"]}

    def request(*services):
        return PlanRequest(services=services, vus=None, params={}, memory_bytes=None, roles=roles)

    assert request("gunicorn-a", "gunicorn-b").selected("sync-workers") == "gunicorn-a"
    assert request("gunicorn-b").selected("sync-workers") == "gunicorn-b"
    assert request("flask-dev").selected("sync-workers") is None


def test_a_label_naming_an_unknown_role_is_refused(fake_compose, monkeypatch):
    model = fake_compose.config()
    model["services"]["gunicorn-sync"]["labels"]["lab.roles"] = "sync-workers,fastest"
    monkeypatch.setattr(compose, "config", lambda env=None: model)
    with pytest.raises(ValueError, match="'fastest'"):
        compose.roles()


def test_the_engine_names_no_configuration(fake_compose):
    """No string in wsgilab/ (docstrings aside) is a configuration's name. A server
    family's own name (a ``Family.name``, or the ``server`` it reports) may equal one: it
    names the family."""
    names = set(fake_compose.configurations()) - servers.servers() - set(servers.registry())
    found = []
    for path in sorted(ENGINE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and id(node) not in docs and node.value in names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not found, "configuration names in the engine (use a role):\n" + "\n".join(found)
