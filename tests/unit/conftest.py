"""Unit-test fixtures: no Docker, no network."""

from __future__ import annotations

import pytest

from support import FakeCompose
from wsgilab.lab import compose, loadside


@pytest.fixture
def fake_compose(monkeypatch) -> FakeCompose:
    """The lab's compose model read from its files, in place of `docker compose config`."""
    fake = FakeCompose()
    monkeypatch.setattr(compose, "config", fake.config)
    monkeypatch.setattr(compose, "configurations", fake.configurations)
    return fake


@pytest.fixture(autouse=True)
def no_calibration(monkeypatch, tmp_path):
    """No calibration of this machine's load side, unless a test writes one: the options'
    checks must not depend on what a run left in results/."""
    monkeypatch.setattr(loadside, "CALIBRATION_FILE", tmp_path / "instrument.json")
    return tmp_path / "instrument.json"
