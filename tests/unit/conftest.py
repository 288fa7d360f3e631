"""Unit-test fixtures: no Docker, no network."""

from __future__ import annotations

import pytest

from support import FakeCompose
from wsgilab import compose


@pytest.fixture
def fake_compose(monkeypatch) -> FakeCompose:
    """The lab's compose model read from its files, in place of `docker compose config`."""
    fake = FakeCompose()
    monkeypatch.setattr(compose, "config", fake.config)
    monkeypatch.setattr(compose, "configurations", fake.configurations)
    return fake
