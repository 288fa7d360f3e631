"""The lab's compose projects: their resolved configuration, building and starting them.

Compose itself parses docker-compose.yml and compose/*.yml (``docker compose config``), so
the lab reads the same model compose runs, with includes, extends and .env applied.

Every function here works on the *current* project: the lab's own by default, another one
(an app's, ``wsgilab.studies.advise.project``) inside ``with using(project):``. Topology, the lab
session and the bench's level runner all go through here, so they work on either.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from wsgilab.lab import images
from wsgilab.model import app as declaration
from wsgilab.model.facts import Limits
from wsgilab.model.paths import ROOT
from wsgilab.model.roles import ROLES


@dataclass(frozen=True)
class Project:
    """A compose project the lab drives.

    Attributes:
        file: its compose file (None: the lab's own docker-compose.yml).
        profiles: compose profiles always enabled when reading its model; a service with a
            profile is not started by ``up``, only when named (``recreate``).
    """

    file: Path | None = None
    profiles: tuple[str, ...] = ()

    def args(self) -> list[str]:
        """The ``docker compose`` options that select this project (its .env is the lab's:
        the project directory is the lab's root)."""
        found = ["--project-directory", str(ROOT), "--file", str(self.file)] if self.file else []
        for profile in self.profiles:
            found += ["--profile", profile]
        return found


#: The lab's own project.
LAB = Project()
_current: contextvars.ContextVar[Project] = contextvars.ContextVar("project", default=LAB)


def current() -> Project:
    """The project the functions here work on now."""
    return _current.get()


@contextlib.contextmanager
def using(project: Project):
    """Work on ``project`` inside the ``with`` block (the lab's own project again after)."""
    token = _current.set(project)
    try:
        yield project
    finally:
        _current.reset(token)


def forget() -> None:
    """Drop the cached models (``config``): a compose file was rewritten."""
    _config.cache_clear()


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
    proc = subprocess.run(["docker", "compose", *current().args(), *args], cwd=ROOT, text=True,
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
    return _config(current(), tuple(sorted((env or {}).items())))


@lru_cache(maxsize=64)
def _config(project: Project, env: tuple[tuple[str, str], ...]) -> dict:
    with using(project):
        return json.loads(compose("config", "--format", "json", capture=True, env=dict(env)))


def declared_limits(service: str, env: dict[str, str] | None = None) -> Limits:
    """The limits the compose model declares for ``service`` (with ``env`` applied to
    its variables, as ``docker compose`` would see them).

    Raises:
        KeyError: the service, or one of its limits, is not declared.
    """
    svc = config(env)["services"][service]
    limits = svc["deploy"]["resources"]["limits"]
    return Limits(cpus=float(limits["cpus"]), cpuset=str(svc["cpuset"]),
                  memory_bytes=int(limits["memory"]), memswap_bytes=int(svc["memswap_limit"]),
                  pids=int(limits["pids"]))


def project_name() -> str:
    return config()["name"]


def configurations() -> list[str]:
    """Names of the services labelled as measured configurations, sorted."""
    services = config()["services"]
    return sorted(name for name, svc in services.items()
                  if (svc.get("labels") or {}).get(ROLE_LABEL) == CONFIGURATION_ROLE)


#: Label listing the roles a configuration plays (comma-separated): the names the claims,
#: the workloads' plans and the fault scenarios use, so that no configuration's name is
#: written into the engine.
ROLES_LABEL = "lab.roles"


def roles(env: dict[str, str] | None = None) -> dict[str, list[str]]:
    """``{role: [configuration, ...]}`` from the configurations' ``lab.roles`` labels: each
    role with every configuration that plays it, sorted by name (the first is the one code
    that needs a single configuration takes: ``wsgilab.model.roles.player``). A role no
    label names is absent.

    Raises:
        ValueError: a label names a role that ``wsgilab.model.roles.ROLES`` does not
            describe.
    """
    found: dict[str, list[str]] = {}
    for name, svc in sorted(config(env)["services"].items()):
        labels = svc.get("labels") or {}
        if labels.get(ROLE_LABEL) != CONFIGURATION_ROLE:
            continue
        for role in filter(None, (r.strip() for r in labels.get(ROLES_LABEL, "").split(","))):
            if role not in ROLES:
                raise ValueError(f"{name}'s {ROLES_LABEL} label names {role!r}, which is no "
                                 f"role of the lab's (wsgilab/model/roles.py: {', '.join(ROLES)})")
            found.setdefault(role, []).append(name)
    return {role: sorted(set(names)) for role, names in found.items()}


#: nginx's allow-list of configurations, generated from the compose model into its image.
ALLOW_LIST = ROOT / "services" / "nginx" / "lab-configurations.map"


def write_allow_list() -> Path:
    """Write nginx's map of the configurations it may proxy (``name 1;`` per line), from
    the services labelled ``lab.role=configuration``: the database and the upstream
    service are never among them. Returns the file's path."""
    lines = [f"{name} 1;" for name in configurations()]
    ALLOW_LIST.write_text("# Generated by wsgilab.lab.compose.write_allow_list from the compose "
                          "model; do not edit.\n" + "\n".join(lines) + "\n")
    return ALLOW_LIST


#: The lab's own demo app, declared as any app is (its lab-app.toml).
DEMO_APP = ROOT / "services" / "app"


def stage_demo() -> Path:
    """Stage the demo app for its images (``images.stage``): every server lock its
    configurations use.

    Raises:
        images.RequirementConflict: its requirements conflict with a server's pins.
    """
    spec = declaration.load(DEMO_APP)
    base = config()["services"]["nginx"]["build"]["args"]["BASE_IMAGE"]
    return images.stage(spec.name, spec.folder, spec.requirements_file, base,
                        servers=("servers", "servers-eventlet"))


def build() -> None:
    """Build each distinct image once, nginx's with the allow-list of the configurations,
    the app images from the demo app as staged (``stage_demo``).

    Several configurations share one image; ``docker compose build`` would build it once
    per service and leave the copies dangling, so one service per image is built.
    """
    write_allow_list()
    stage_demo()
    first_by_image: dict[str, str] = {}
    for name, svc in config()["services"].items():
        if "build" in svc:
            first_by_image.setdefault(svc.get("image", name), name)
    compose("build", *sorted(first_by_image.values()))


#: Seconds `up --wait` may take: the first start of every service, images built.
UP_TIMEOUT_S = 180
#: Seconds a recreated service may take to be healthy (healthcheck start_interval 1 s).
RECREATE_TIMEOUT_S = 90


def always_on() -> list[str]:
    """The services ``up`` starts: those of no profile (an app project's candidates have
    one, and run only when named)."""
    return sorted(name for name, svc in config()["services"].items() if not svc.get("profiles"))


def up(env: dict[str, str] | None = None) -> None:
    """Build the images (the lab's own project; another project builds its own first),
    start every service of no profile, and wait until all are healthy.

    Args:
        env: compose variables (e.g. the user's limits, ``APP_CPUS``); services whose
            resolved configuration changed are recreated.

    Raises:
        ComposeError: a build failed, or a service did not become healthy.
    """
    if current() == LAB:
        build()
    named = always_on() if current().profiles else []
    compose("up", "--detach", "--wait", "--wait-timeout", str(UP_TIMEOUT_S), *named, env=env)


def remove(service: str) -> None:
    """Stop and remove ``service``'s container (a candidate the run is done with)."""
    compose("rm", "--stop", "--force", service, capture=True)


def recreate(*services: str, env: dict[str, str] | None = None, force: bool = False) -> None:
    """Start ``services`` (without their dependencies) with ``env`` applied, recreating
    each container whose configuration changed (every one with ``force``), and wait until
    all are healthy; compose starts them side by side.

    Raises:
        ComposeError: one did not become healthy within RECREATE_TIMEOUT_S.
    """
    # Captured: compose's per-container progress lines would bury the bench's own; on a
    # failure ComposeError carries them.
    compose("up", "--detach", "--no-deps", *(["--force-recreate"] if force else []), "--wait",
            "--wait-timeout", str(RECREATE_TIMEOUT_S), *services, env=env, capture=True)


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
    """Stop and remove the current project's containers, networks and volumes."""
    compose("down", "--volumes", "--remove-orphans")
