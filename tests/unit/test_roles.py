"""Configuration names are data: the engine names roles, and the compose labels say which
configuration plays each."""

from __future__ import annotations

import ast

import pytest

from support import ROOT
from wsgilab import families as servers
from wsgilab.lab import compose
from wsgilab.model.roles import ROLES

ENGINE = ROOT / "wsgilab"


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def test_every_role_is_played_by_exactly_one_configuration(fake_compose):
    played = compose.roles()
    assert set(played) == set(ROLES), (
        f"roles without a configuration: {sorted(set(ROLES) - set(played))}; "
        f"labels naming no role: {sorted(set(played) - set(ROLES))}")
    assert set(played.values()) <= set(fake_compose.configurations())


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
