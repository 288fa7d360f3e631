"""The lab's compose project: its resolved configuration, building and starting it.

Compose itself parses docker-compose.yml and compose/*.yml (``docker compose config``), so
the lab reads the same model compose runs, with includes, extends and .env applied.
"""

from __future__ import annotations

import json
import subprocess
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Label that marks a service as one of the measured configurations (compose/app.yml).
ROLE_LABEL = "lab.role"
CONFIGURATION_ROLE = "configuration"


class ComposeError(RuntimeError):
    """docker compose failed; the message carries its stderr."""


def compose(*args: str, capture: bool = False) -> str:
    """Run ``docker compose ARGS`` in the project root.

    Returns:
        stdout when ``capture`` is true, else "" (output goes to the terminal).

    Raises:
        ComposeError: compose exited non-zero.
    """
    proc = subprocess.run(["docker", "compose", *args], cwd=ROOT, text=True,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None)
    if proc.returncode != 0:
        raise ComposeError(f"docker compose {' '.join(args)} failed "
                           f"(exit {proc.returncode}): {proc.stderr or ''}".strip())
    return proc.stdout or ""


@lru_cache(maxsize=1)
def config() -> dict:
    """The resolved compose model (``docker compose config --format json``) as a dict."""
    return json.loads(compose("config", "--format", "json", capture=True))


def project_name() -> str:
    return config()["name"]


def configurations() -> list[str]:
    """Names of the services labelled as measured configurations, sorted."""
    services = config()["services"]
    return sorted(name for name, svc in services.items()
                  if (svc.get("labels") or {}).get(ROLE_LABEL) == CONFIGURATION_ROLE)


def build() -> None:
    """Build each distinct image once.

    Several configurations share one image; ``docker compose build`` would build it once
    per service and leave the copies dangling, so one service per image is built.
    """
    first_by_image: dict[str, str] = {}
    for name, svc in config()["services"].items():
        if "build" in svc:
            first_by_image.setdefault(svc.get("image", name), name)
    compose("build", *sorted(first_by_image.values()))


def up() -> None:
    """Build the images, start every service, and wait until all are healthy."""
    build()
    compose("up", "--detach", "--wait", "--wait-timeout", "180")


def down() -> None:
    compose("down", "--volumes", "--remove-orphans")
