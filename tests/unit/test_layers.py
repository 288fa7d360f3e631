"""The import graph of ``wsgilab/``: records and theory at the bottom, then the server
families, the workloads, the lab (the only package that runs anything) beside the
verdicts, then the studies, the presentation, and the command line on top.

Read from the code's own import statements (``ast``), so that a change that adds an arrow
back up, a circle, a function-local import that hides one, or a second module that talks
to Docker fails here with the arrow named.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from support import ROOT

PACKAGE = ROOT / "wsgilab"
#: Each layer's rank and the packages (or modules) in it: an import may only go to a lower
#: rank, or stay inside its own package. Two packages of one rank may not import each other.
LAYERS = {
    "wsgilab.model": 0,
    "wsgilab.families": 1,
    "wsgilab.workloads": 2,
    "wsgilab.lab": 3,
    "wsgilab.verdicts": 3,
    "wsgilab.studies": 4,
    "wsgilab.report": 5,
    "wsgilab.cli": 6,
    "wsgilab.__main__": 7,
    "wsgilab": 0,  # the package's own __init__: nothing in it
}
#: The one module that may import the Docker SDK (its client, errors, types).
ENGINE = "wsgilab.lab.engine"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> str:
    """The layer (a key of LAYERS) a module belongs to: its longest listed prefix."""
    found = [name for name in LAYERS if module == name or module.startswith(name + ".")]
    assert found, f"{module} belongs to no layer: add its package to LAYERS"
    return max(found, key=len)


def resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not MODULES[module].name == "__init__.py":
        base = base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported wsgilab module, line, at the module's top level) for each import of a
    wsgilab module by ``module``; ``from pkg import mod`` counts as importing ``pkg.mod``."""
    tree = ast.parse(MODULES[module].read_text())
    top = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(module, node)
            names = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target
                     for a in node.names]
        else:
            continue
        for name in names:
            if name == "wsgilab" or name.startswith("wsgilab."):
                found.append((name, node.lineno, id(node) in top))
    return found


def third_party(module: str) -> set[str]:
    """The top-level names of everything ``module`` imports."""
    tree = ast.parse(MODULES[module].read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add((node.module or "").split(".")[0])
    return names


def arrows() -> list[tuple[str, str, int, bool]]:
    return [(m, target, line, at_top) for m in MODULES for target, line, at_top in imports(m)]


def test_every_module_belongs_to_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_arrow_runs_back_up_or_across():
    bad = []
    for module, target, line, _ in arrows():
        here, there = layer_of(module), layer_of(target)
        if here == there:
            continue
        if LAYERS[there] >= LAYERS[here]:
            bad.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports {target} "
                       f"({there}, rank {LAYERS[there]}) from {here} (rank {LAYERS[here]})")
    assert not bad, "imports that run back up or across a layer:\n" + "\n".join(bad)


def test_no_function_local_import_of_the_lab_s_own_modules():
    hidden = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {t} inside a function"
              for m, t, line, at_top in arrows() if not at_top]
    assert not hidden, ("a function-local import hides an arrow from this check; import at "
                        "the top, and move what forces it to the right layer:\n" + "\n".join(hidden))


def test_the_import_graph_has_no_circle():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, target, _, _ in arrows():
        if target in MODULES:
            graph[module].add(target)
    # Tarjan-free: a depth-first search that reports the first back edge's cycle.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            pytest.fail("a circle of imports: " + " -> ".join(cycle))


def test_only_the_engine_module_imports_the_docker_sdk():
    found = sorted(m for m in MODULES if "docker" in third_party(m))
    assert found == [ENGINE], f"expected the Docker SDK in {ENGINE} only, found it in {found}"


def test_the_check_catches_an_arrow_back_up(tmp_path, monkeypatch):
    """The layering check is not vacuous: a model module importing the lab fails it."""
    fake = tmp_path / "wsgilab" / "model" / "leak.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("from wsgilab.lab import session\n")
    monkeypatch.setitem(MODULES, "wsgilab.model.leak", fake)
    monkeypatch.setattr("test_layers.ROOT", tmp_path)
    with pytest.raises(AssertionError, match="run back up"):
        test_no_arrow_runs_back_up_or_across()
