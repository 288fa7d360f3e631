"""docs/extending.md says which files each addition touches: held here to the registries,
so that the page names every file each family, workload, scenario and claim of the lab
really has, and no file that an addition does not need."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from support import ROOT
from wsgilab import families, workloads
from wsgilab.studies import faults
from wsgilab.verdicts import claims

PAGE = (ROOT / "docs" / "extending.md").read_text()


def section(title: str) -> str:
    """The text of the page's ``## <title>`` section."""
    start = PAGE.index(f"## {title}\n")
    end = PAGE.find("\n## ", start + 1)
    return PAGE[start:end if end > 0 else None]


@pytest.mark.parametrize("title, files", [
    ("A server family", ["compose/<name>.yml", "wsgilab/families/<family>.py",
                         "services/instrument/labinstrument/launchers/<family>.py",
                         "services/servers/requirements/"]),
    ("A workload", ["k6/<name>.js", "wsgilab/workloads/<name>.py"]),
    ("A fault scenario", ["wsgilab/studies/faults/<name>.py"]),
    ("A claim", ["wsgilab/verdicts/claims.yaml", "wsgilab/verdicts/claims.py",
                 "tests/unit/test_claims.py"]),
])
def test_each_addition_names_its_files(title, files):
    text = section(title)
    missing = [f for f in files if f"`{f}" not in text]
    assert not missing, f"docs/extending.md, {title}: expected it to name {missing}"


def test_every_family_has_what_the_page_says_a_family_needs(fake_compose):
    commands = [svc["command"] for svc in fake_compose.config()["services"].values()]
    for name, family in families.registry().items():
        module = Path(sys.modules[family.command.__module__].__file__)
        assert module.parent == ROOT / "wsgilab" / "families", f"{name}: declared in {module}"
        played = [c for c in commands if families.of(families.declared(c)) is family]
        assert played, f"{name}: no compose configuration runs it"
        if family.launcher:
            launcher = ROOT / "services" / "instrument" / Path(*family.launcher.split("."))
            assert launcher.with_suffix(".py").exists(), f"{name}: expected {launcher}.py"
        pins = ROOT / "services" / "servers" / "requirements" / f"{family.requirements}.in"
        assert family.package in pins.read_text(), f"{name}: {family.package} not in {pins.name}"


def test_every_workload_and_scenario_has_its_files():
    for name, workload in workloads.registry().items():
        assert (ROOT / "k6" / workload.script).exists(), f"workload {name}: no k6/{workload.script}"
        assert (ROOT / "wsgilab" / "workloads" / f"{name}.py").exists(), f"workload {name}"
    for name, scenario in faults.registry().items():
        module = Path(sys.modules[scenario.run.__module__].__file__)
        assert module.parent == ROOT / "wsgilab" / "studies" / "faults", f"scenario {name}: {module}"


def test_every_claim_has_its_rule():
    for claim in claims.load():
        assert claim.rule in claims.RULES, f"claim {claim.id}: no rule {claim.rule}"
