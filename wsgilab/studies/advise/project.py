"""The app's own compose project: its candidates, a front end, and the backends it asked for.

Written under ``build/advise/<app>/`` from the lab's own declarations, never copied from
them: each candidate ``extends`` compose/app.yml's ``instrument`` (the image recipe, the
hardening, the healthcheck) with the app's image, environment, limits and the candidate's
command; nginx ``extends`` compose/nginx.yml on port ``ADVISE_PORT``, with the project's
allow-list of candidates mounted over the lab's; PostgreSQL ``extends``
compose/postgres.yml with the app's SQL mounted for its first start; the upstream service
``extends`` compose/upstream.yml.

Candidates carry the compose profile ``candidates``: the session's ``up`` starts the front
end and the backends only, and the runner launches one candidate at a time
(``LabSession.launch``), so that no other candidate runs beside the measured one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from wsgilab.lab import images
from wsgilab.lab.compose import Project
from wsgilab.model.app import AppSpec
from wsgilab.model.interpreters import Interpreter
from wsgilab.model.paths import ROOT
from wsgilab.studies.advise.candidates import Candidate

PROJECTS = ROOT / "build" / "advise"
#: The app project's front end, on loopback beside the lab's own 8080.
ADVISE_PORT = 8090
CANDIDATES_PROFILE = "candidates"
#: Where the app's SQL is mounted in its PostgreSQL (services/postgres/lab-postgres.sh runs
#: every *.sql there, in name order, on the cluster's first start).
INIT_DIR = "/lab-init"
#: The allow-list's path in the nginx image (services/nginx/Dockerfile).
NGINX_MAP = "/etc/nginx/lab-configurations.map"
#: The lab's image of its front end, which the app's nginx runs with its own allow-list.
NGINX_IMAGE = "wsgi-lab/nginx:dev"


def directory(spec: AppSpec) -> Path:
    """``build/advise/<app>``: the project's compose file, allow-list and SQL."""
    return PROJECTS / spec.name


def project(spec: AppSpec) -> Project:
    """The app's compose project (its candidates' profile enabled, so that the model
    holds them)."""
    return Project(directory(spec) / "docker-compose.yml", profiles=(CANDIDATES_PROFILE,))


def base_url() -> str:
    return f"http://127.0.0.1:{ADVISE_PORT}"


def image(spec: AppSpec, servers: str, python: Interpreter | None = None) -> str:
    """The app's image for a server lock: ``wsgi-lab/app-shop:servers``; on another
    interpreter (``make advise --python``), its tag: ``wsgi-lab/app-shop:py3.13t``."""
    if python is not None and not python.system:
        return images.app_image(spec.name, python.tag)
    return images.app_image(spec.name, servers)


def build_args(spec: AppSpec, servers: str, python: Interpreter | None = None) -> dict:
    """A candidate's image's build arguments (services/instrument/Dockerfile): the server
    lock and the app's stage; where the app conflicted with the whole ``servers`` lock, the
    pins of the families that install it, as staged (``images.staged_servers``); on
    another interpreter, its image and binary and the app as staged for it
    (``pythons.stage_app``)."""
    if python is not None and not python.system:
        return {"SERVERS": "staged", "APP_STAGE": f"build/apps/{spec.name}-{python.tag}",
                "PYTHON_IMAGE": python.image, "PYTHON_BIN": python.binary}
    stage = images.STAGES / spec.name
    if servers == "servers" and images.staged_servers(stage):
        return {"SERVERS": "staged", "APP_STAGE": f"build/apps/{spec.name}"}
    return {"SERVERS": servers, "APP_STAGE": f"build/apps/{spec.name}"}


def cpuset(spec: AppSpec, host_cpus: int, load_cpus: frozenset[int] = frozenset({0})) -> str:
    """The candidates' cpuset: the declared one; for a quota only, every core of the host
    but the load side's (k6, nginx and the backends run there), so that the load side
    never takes the measured app's CPU; all of them on a one-core host.

    A quota-only pod's ``os.cpu_count()`` is the node's count, as it is here (the cpuset
    does not change it); its affinity is every core, which here it is not: the runner
    gives the sizing rules that read the affinity the host's count instead
    (``quota_only_facts``)."""
    if spec.cpuset is not None:
        return spec.cpuset
    free = [c for c in range(host_cpus) if c not in load_cpus]
    cores = free or list(range(host_cpus))
    return ",".join(str(c) for c in cores)


def quota_only_facts(container: dict, host_cpus: int) -> dict:
    """What a quota-only container on this host reports to the sizing rules: what the
    candidate's container reported, its affinity the host's every core."""
    return {**container, "affinity_cpus": host_cpus}


def write_allow_list(spec: AppSpec, names: list[str]) -> Path:
    """Write the front end's allow-list: the candidates, nothing else (rewritten in place:
    the running nginx sees it on ``nginx -s reload``)."""
    where = directory(spec)
    where.mkdir(parents=True, exist_ok=True)
    path = where / "lab-configurations.map"
    path.write_text(f"# Written by wsgilab.studies.advise.project for {spec.name}; do not edit.\n"
                    + "".join(f"{name} 1;\n" for name in names))
    return path


def write(spec: AppSpec, candidates: list[Candidate], base_image: str, host_cpus: int,
          load_cpus: frozenset[int] = frozenset({0}), python: Interpreter | None = None) -> Path:
    """Write the project's compose file and its allow-list, and return the file's path.
    JSON is YAML: compose reads it as it is.

    Args:
        candidates: every candidate (each a service of the ``candidates`` profile).
        base_image: the lab's BASE_IMAGE (.env), for the app's images.
        host_cpus: the host's CPU count; load_cpus: the load side's cores (``cpuset``).
        python: the interpreter the candidates run on (None: the base image's).
    """
    where = directory(spec)
    allow_list = write_allow_list(spec, [c.name for c in candidates])
    services: dict = {
        "nginx": {
            "extends": {"file": str(ROOT / "compose" / "nginx.yml"), "service": "nginx"},
            "image": NGINX_IMAGE,
            "ports": [f"127.0.0.1:{ADVISE_PORT}:8080"],
            "volumes": [f"{allow_list}:{NGINX_MAP}:ro"],
        },
    }
    if spec.postgres is not None:
        init = where / "db-init"
        if init.exists():
            shutil.rmtree(init)
        init.mkdir()
        for i, sql in enumerate(spec.postgres, 1):
            shutil.copy(sql, init / f"{i:02d}-{sql.name}")
        services["postgres"] = {
            "extends": {"file": str(ROOT / "compose" / "postgres.yml"), "service": "postgres"},
            "environment": {"LAB_INIT_DIR": INIT_DIR},
            "volumes": [f"{init}:{INIT_DIR}:ro"],
        }
    if spec.upstream:
        services["upstream"] = {
            "extends": {"file": str(ROOT / "compose" / "upstream.yml"), "service": "upstream"},
        }
    environment = {"LAB_APP": spec.entry, **spec.environment}
    for candidate in candidates:
        services[candidate.name] = {
            "extends": {"file": str(ROOT / "compose" / "app.yml"), "service": "instrument"},
            "image": image(spec, candidate.servers, python),
            "build": {"args": build_args(spec, candidate.servers, python)},
            "command": list(candidate.command),
            "environment": {**environment, **candidate.environment},
            "labels": {"lab.role": "configuration"},
            "profiles": [CANDIDATES_PROFILE],
            "cpuset": cpuset(spec, host_cpus, load_cpus),
            "memswap_limit": spec.memory,
            "deploy": {"resources": {"limits": {"cpus": str(spec.cpus), "memory": spec.memory,
                                                "pids": spec.pids}}},
        }
    document = {"name": f"wsgi-lab-{spec.name}", "services": services,
                "networks": {"edge": {}, "backend": {"internal": True}}}
    path = where / "docker-compose.yml"
    path.write_text(json.dumps(document, indent=1) + "\n")
    return path
