"""Helpers shared by unit and integration tests. Paths come from this file, never from
the working directory."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
#: A small real run (bench.json and its k6 summaries), recorded by `make bench` with
#: BENCH_ARGS="--services gunicorn-sync,gunicorn-gevent,gunicorn-gthread-1x8 --vus 4"
#: narrowed to a few levels of each workload; see tests/data/README.md.
SMALL_RUN = DATA / "run-small"
#: The records the findings are rendered from (records/README.md): a real run of `make
#: bench`'s default plan, and one of `make faults`; the claims' tests read them too.
RECORDS = ROOT / "records"
DEFAULT_RUN = RECORDS / "default"
FAULTS_RUN = RECORDS / "faults"
#: gthread 2 x 4 and its neighbours at 10 and 40 VUs, five repeats each (records/README.md).
REPEATS_RUN = RECORDS / "gthread-repeats"

_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+):-([^}]*)\}")
_UNITS = {"K": 2**10, "M": 2**20, "G": 2**30}


class FakeCompose:
    """``docker compose config`` for unit tests, which run without Docker: the
    configurations of docker-compose.yml's ``include:`` list with their commands as written in
    ``compose/<service>.yml`` and the image, environment, hardening, healthcheck and limits
    of ``compose/app.yml``, ``${VAR:-default}`` interpolated from ``env`` as compose does.
    ``config(backends=True)`` adds the services the configurations call (PostgreSQL, the
    upstream service) and the front end, as their own files declare them."""

    #: What compose copies from a service's declaration into its resolved model, beside the
    #: command, labels and limits (``docker compose config`` has more; the lab reads these).
    CARRIED = ("image", "user", "read_only", "tmpfs", "cap_drop", "security_opt", "healthcheck",
               "stop_signal", "ulimits")

    def __init__(self) -> None:
        top = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        declared = yaml.safe_load((ROOT / "compose" / "app.yml").read_text())["services"]
        # `app` extends `instrument` (compose merges mappings key by key).
        base, app = declared["instrument"], declared["app"]
        self.app = {**base, **{k: v for k, v in app.items() if k != "extends"},
                    "labels": {**base.get("labels", {}), **app.get("labels", {})},
                    "environment": {**base.get("environment", {}), **app.get("environment", {})}}
        self.services = {}
        self.backends = {}
        for include in top["include"]:
            for name, svc in yaml.safe_load((ROOT / include).read_text())["services"].items():
                if "extends" in svc:  # the configurations; not the backends they call
                    self.services[name] = svc
                else:
                    self.backends[name] = svc
        nginx = yaml.safe_load((ROOT / "compose" / "nginx.yml").read_text())["services"]["nginx"]
        self.backends["nginx"] = nginx

    def configurations(self) -> list[str]:
        return sorted(self.services)

    def config(self, env: dict | None = None, backends: bool = False) -> dict:
        env = env or {}

        def sub(value):
            return _VARIABLE.sub(lambda m: env.get(m[1], m[2]), str(value))

        def size(value):
            text = sub(value)
            return str(int(text[:-1]) * _UNITS[text[-1]]) if text[-1] in _UNITS else text

        def deep(value):
            if isinstance(value, dict):
                return {k: deep(v) for k, v in value.items()}
            if isinstance(value, list):
                return [deep(v) for v in value]
            return sub(value) if isinstance(value, str) else value

        def resolved(svc: dict, extra: dict) -> dict:
            limits = svc["deploy"]["resources"]["limits"]
            found = {k: deep(svc[k]) for k in self.CARRIED if k in svc}
            return {
                **found, **extra,
                "labels": {**svc.get("labels", {}), **extra.get("labels", {})},
                "cpuset": sub(svc["cpuset"]),
                "memswap_limit": size(svc["memswap_limit"]),
                "deploy": {"resources": {"limits": {
                    "cpus": float(sub(limits["cpus"])), "memory": size(limits["memory"]),
                    "pids": int(sub(limits["pids"]))}}},
            }

        services = {}
        for name, svc in self.services.items():
            services[name] = resolved({**self.app, **{k: v for k, v in svc.items() if k != "extends"}}, {
                "command": [sub(part) for part in svc["command"]],
                "labels": {**self.app.get("labels", {}), **svc.get("labels", {})},
                "environment": deep({**self.app["environment"], **svc.get("environment", {})}),
            })
        if backends:
            for name, svc in self.backends.items():
                services[name] = resolved(svc, {"command": deep(svc.get("command")),
                                                "environment": deep(svc.get("environment", {}))})
        return {"name": "wsgi-lab", "services": services}


def container(service: str, project: str = "wsgi-lab"):
    """The running container of ``service`` in a compose project, through the Docker SDK
    (tests read what the lab's engine hides: its hardening, its raw attributes).

    Raises:
        LookupError: no running container, or more than one.
    """
    import docker

    found = docker.from_env().containers.list(filters={"label": [
        f"com.docker.compose.project={project}", f"com.docker.compose.service={service}"]})
    if len(found) != 1:
        raise LookupError(f"expected one running container for {service}, found {len(found)}")
    return found[0]


def health(service: str) -> dict:
    """``/<service>/_lab/health`` through the lab's front end."""
    from wsgilab.lab.probe import Probe

    return Probe().health(service)
