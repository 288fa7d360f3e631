"""The lab's compose project: its resolved configuration, building and starting it.

Compose itself parses docker-compose.yml and compose/*.yml (``docker compose config``), so
the lab reads the same model compose runs, with includes, extends and .env applied.
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Label that marks a service as one of the measured configurations (compose/app.yml).
ROLE_LABEL = "lab.role"
CONFIGURATION_ROLE = "configuration"


class ComposeError(RuntimeError):
    """docker compose failed; the message carries its stderr."""


def compose(*args: str, capture: bool = False, env: dict[str, str] | None = None) -> str:
    """Run ``docker compose ARGS`` in the project root.

    Args:
        env: variables for compose's interpolation (``${APP_CPUS:-1.0}``), over the
            process environment and ``.env`` (compose gives the environment precedence).

    Returns:
        stdout when ``capture`` is true, else "" (output goes to the terminal).

    Raises:
        ComposeError: compose exited non-zero.
    """
    proc = subprocess.run(["docker", "compose", *args], cwd=ROOT, text=True,
                          env={**os.environ, **env} if env else None,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None)
    if proc.returncode != 0:
        raise ComposeError(f"docker compose {' '.join(args)} failed "
                           f"(exit {proc.returncode}): {proc.stderr or ''}".strip())
    return proc.stdout or ""


def config(env: dict[str, str] | None = None) -> dict:
    """The resolved compose model (``docker compose config --format json``) as a dict,
    with ``env`` applied to its variables."""
    return _config(tuple(sorted((env or {}).items())))


@lru_cache(maxsize=64)
def _config(env: tuple[tuple[str, str], ...]) -> dict:
    return json.loads(compose("config", "--format", "json", capture=True, env=dict(env)))


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


#: Seconds `up --wait` may take: the first start of every service, images built.
UP_TIMEOUT_S = 180
#: Seconds a recreated service may take to be healthy (healthcheck start_interval 1 s).
RECREATE_TIMEOUT_S = 90


def up(env: dict[str, str] | None = None) -> None:
    """Build the images, start every service, and wait until all are healthy.

    Args:
        env: compose variables (e.g. the user's limits, ``APP_CPUS``); services whose
            resolved configuration changed are recreated.

    Raises:
        ComposeError: a build failed, or a service did not become healthy.
    """
    build()
    compose("up", "--detach", "--wait", "--wait-timeout", str(UP_TIMEOUT_S), env=env)


def recreate(service: str, env: dict[str, str] | None = None) -> None:
    """Start ``service`` alone with ``env`` applied, recreating its container if its
    configuration changed, and wait until it is healthy.

    Raises:
        ComposeError: it did not become healthy within RECREATE_TIMEOUT_S.
    """
    # Captured: compose's per-container progress lines would bury the bench's own; on a
    # failure ComposeError carries them.
    compose("up", "--detach", "--no-deps", "--wait", "--wait-timeout",
            str(RECREATE_TIMEOUT_S), service, env=env, capture=True)


def status() -> str:
    """``docker compose ps --all``: every container of the lab and its state."""
    return compose("ps", "--all", capture=True)


def logs(service: str, tail: int = 60) -> str:
    """The last ``tail`` lines of ``service``'s logs ("" when it has none)."""
    try:
        return compose("logs", "--no-color", "--tail", str(tail), service, capture=True)
    except ComposeError as exc:
        return str(exc)


def unhealthy() -> list[str]:
    """Services whose container is not running healthy (for start-up failure reports)."""
    # compose 2.26 prints one JSON object per line.
    rows = [json.loads(line) for line in
            compose("ps", "--all", "--format", "json", capture=True).splitlines() if line.strip()]
    bad = []
    for row in rows:
        if row.get("State") != "running" or row.get("Health") not in ("", "healthy"):
            bad.append(row["Service"])
    return sorted(set(bad))


def down() -> None:
    compose("down", "--volumes", "--remove-orphans")
