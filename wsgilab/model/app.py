"""An app brought to the lab: a folder with its code, its requirements and ``lab-app.toml``.

```toml
[app]
name = "shop"                    # names its images, its results, its configurations
entry = "shop.wsgi:app"          # the WSGI callable, module:attribute
requirements = "requirements.txt"  # or "pyproject.toml" (its [project] dependencies)
eventlet = false                 # true: also measure gunicorn's eventlet worker (the app
                                 #   must run on it; its own image, eventlet's pins)
[app.environment]                # the app's own environment
SHOP_DATABASE_URL = "postgresql+psycopg://app@postgres/postgres"

[limits]                         # the container it will run in
cpus = 1.0                       # a CPU quota
cpuset = "1"                     # optional: pinned to cores; without it a quota only, as
memory = "512M"                  #   most Kubernetes pods run (os.cpu_count() sees them all)
pids = 256

[objective]
slo = "p99=300ms"                # or p95=...; default p99 <= 2 x the service time
rate = 40                        # optional: the req/s the app must serve (what limits would)

[[requests]]                     # the mix, by weight (or har = "recorded.har" in [app])
method = "GET"                   # default GET
path = "/products?page=3"
weight = 4
body = '...'                     # optional, with headers = { ... }

[backends.postgres]              # the lab's PostgreSQL, with the app's own SQL run first
schema = "schema.sql"
seed = "seed.sql"
[backends]
upstream = true                  # the lab's upstream HTTP service (http://upstream:8081)
```

``load`` reads and checks all of it with ``tomllib`` before anything is built or sent;
each problem is an ``AppError`` saying what and where.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from wsgilab.model import objective
from wsgilab.model.levels import cpuset_size, memory_bytes
from wsgilab.model.objective import Objective
from wsgilab.model.paths import relative

DECLARATION = "lab-app.toml"
#: What an app's name may be: it names images, compose services and files.
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_ENTRY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*$")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
#: The most requests a mix may have, and the largest body one may send (bytes).
MAX_REQUESTS = 50
MAX_BODY_BYTES = 64 * 1024
#: The variables the instrument reads (services/instrument/labinstrument: every *_ENV name
#: there; tests/unit/test_advise.py keeps the two in step).
RESERVED_ENV = frozenset({"LAB_APP", "LAB_INFLIGHT_FILE", "LAB_PROCESSES_FILE",
                          "LAB_BLOCKED_FILE", "LAB_SERVER_SETTINGS"})
#: Headers a mix may not set: the load side sets them, or they would change the connection.
RESERVED_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


class AppError(ValueError):
    """The app's folder or declaration cannot be measured; the message says what and where."""


@dataclass(frozen=True)
class Request:
    """One request of the mix: method, path (with its query), body, headers, weight."""

    method: str
    path: str
    weight: float = 1.0
    body: str = ""
    headers: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``GET /products?page=3``: how reports name it."""
        return f"{self.method} {self.path}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AppSpec:
    """A declared app, checked.

    Attributes:
        folder: the app's folder (absolute).
        name: its name; entry: ``module:attribute`` of its WSGI callable.
        requirements: requirement lines (from requirements.txt or pyproject.toml).
        requirements_file: the file they come from.
        environment: the app's environment variables.
        cpus, cpuset, memory, pids: the limits to reproduce (cpuset None: a quota only).
        objective: the latency objective; target_rps: the rate it must serve (req/s), or
            None.
        eventlet: measure an eventlet candidate too.
        requests: the mix.
        postgres: SQL files to run in the lab's PostgreSQL first (schema, seed), or None
            when the app needs no database; upstream: whether it calls the upstream service.
        project: the folder's own distribution (its ``pyproject.toml`` ``[project] name``)
            where the entry's module lies under ``src/`` (a src layout): it is built into a
            wheel and installed as pip would; None where the module is at the folder's top
            or an installed requirement.
    """

    folder: Path
    name: str
    entry: str
    requirements: tuple[str, ...]
    requirements_file: Path
    environment: dict
    cpus: float
    cpuset: str | None
    memory: str
    pids: int
    objective: Objective
    requests: tuple[Request, ...]
    postgres: tuple[Path, ...] | None = None
    upstream: bool = False
    target_rps: float | None = None
    eventlet: bool = False
    project: str | None = None

    @property
    def memory_bytes(self) -> int:
        return memory_bytes(self.memory)

    def to_dict(self) -> dict:
        """The declaration as a record keeps it: paths relative to the repository where the
        app lies inside it (``paths.relative``), so that a record reads on another machine."""
        return {"folder": relative(self.folder), "name": self.name, "entry": self.entry,
                "requirements": list(self.requirements),
                "requirements_file": relative(self.requirements_file),
                "environment": self.environment,
                "cpus": self.cpus, "cpuset": self.cpuset, "memory": self.memory,
                "pids": self.pids, "objective": self.objective.to_dict(),
                "requests": [r.to_dict() for r in self.requests],
                "postgres": [relative(p) for p in self.postgres] if self.postgres else None,
                "upstream": self.upstream, "target_rps": self.target_rps,
                "eventlet": self.eventlet, "project": self.project}


def _need(table: dict, key: str, kind, where: str):
    if key not in table:
        raise AppError(f"{where}: {key} is required")
    value = table[key]
    if not isinstance(value, kind):
        raise AppError(f"{where}: {key} must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _requirements(folder: Path, declared: str) -> tuple[str, ...]:
    path = folder / declared
    if not path.is_file():
        raise AppError(f"[app] requirements: {declared} is not a file in {folder}")
    if path.name == "pyproject.toml":
        project = tomllib.loads(path.read_text()).get("project", {})
        lines = project.get("dependencies", [])
        if not isinstance(lines, list):
            raise AppError(f"{declared}: [project] dependencies must be a list")
        return tuple(str(x) for x in lines)
    lines = []
    for raw in path.read_text().replace("\\\n", " ").splitlines():
        line = " ".join(t for t in raw.split("#", 1)[0].split() if not t.startswith("--hash"))
        if not line:
            continue
        if line.startswith(("-e", "--editable", "-r", "-c", "--index-url", "-i", "--extra-index-url")):
            raise AppError(f"{declared}: {line.split()[0]} is not supported; list the "
                           "requirements themselves")
        lines.append(line)
    return tuple(lines)


def _distribution(line: str) -> str | None:
    """A requirement line's distribution, normalised (PEP 503); None for a line that is
    not a PEP 508 requirement (a wheel's path)."""
    try:
        return canonicalize_name(Requirement(line).name)
    except InvalidRequirement:
        return None


def _entry_home(folder: Path, module: str, requirements: tuple[str, ...]) -> str | None:
    """Where the entry's top module comes from: the folder's top (None), its ``src/`` in a
    src layout (the folder's own project name, to install), or one of its requirements
    (None: pip installs it).

    Raises:
        AppError: none of the three, or a src layout without a ``pyproject.toml``
            ``[project] name``.
    """
    if (folder / module).is_dir() or (folder / f"{module}.py").is_file():
        return None
    if (folder / "src" / module).is_dir() or (folder / "src" / f"{module}.py").is_file():
        pyproject = folder / "pyproject.toml"
        name = (tomllib.loads(pyproject.read_text()).get("project", {}).get("name")
                if pyproject.is_file() else None)
        if not isinstance(name, str) or not name:
            raise AppError(f"[app] entry: {module!r} is in {folder / 'src'}, but the folder has "
                           "no pyproject.toml with a [project] name to install it as pip would")
        return name
    if canonicalize_name(module) in {_distribution(line) for line in requirements}:
        return None
    raise AppError(f"[app] entry: no module {module!r} in {folder}, in its src/ (a src layout "
                   "with a pyproject.toml), or among its requirements")


def _request(data: dict, where: str) -> Request:
    method = str(data.get("method", "GET")).upper()
    if method not in METHODS:
        raise AppError(f"{where}: method must be one of {', '.join(METHODS)}, got {method!r}")
    path = _need(data, "path", str, where)
    if not path.startswith("/") or any(c in path for c in " \r\n#") or "//" in path[:2]:
        raise AppError(f"{where}: path must start with / and hold no space, CR, LF or "
                       f"fragment (percent-encode them), got {path!r}")
    weight = data.get("weight", 1)
    if not isinstance(weight, (int, float)) or not 0 < weight <= 1000:
        raise AppError(f"{where}: weight must be a number in (0, 1000], got {weight!r}")
    body = data.get("body", "")
    if not isinstance(body, str) or len(body.encode()) > MAX_BODY_BYTES:
        raise AppError(f"{where}: body must be text of at most {MAX_BODY_BYTES} bytes")
    headers = data.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in headers.items()):
        raise AppError(f"{where}: headers must be a table of text values")
    reserved = sorted(k for k in headers if k.lower() in RESERVED_HEADERS)
    if reserved:
        raise AppError(f"{where}: headers may not set {', '.join(reserved)} (the load side does)")
    return Request(method, path, float(weight), body, dict(headers))


def har_requests(path: Path) -> tuple[Request, ...]:
    """A mix from a recorded HAR file (HTTP Archive 1.2): each entry's method, path and
    query, body and request headers; identical requests merged, their count the weight.

    Raises:
        AppError: not a HAR file, or an entry the lab cannot send.
    """
    try:
        entries = json.loads(path.read_text())["log"]["entries"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AppError(f"{path.name}: not a HAR file ({exc})") from None
    counted: dict[tuple, float] = {}
    for entry in entries:
        request = entry.get("request", {})
        url = urlsplit(request.get("url", ""))
        target = url.path + (f"?{url.query}" if url.query else "")
        headers = {h["name"]: h["value"] for h in request.get("headers", [])
                   if h.get("name", "").lower() not in RESERVED_HEADERS
                   and not h.get("name", "").startswith(":")}
        body = (request.get("postData") or {}).get("text", "")
        key = (request.get("method", "GET"), target, body, tuple(sorted(headers.items())))
        counted[key] = counted.get(key, 0) + 1
        if len(counted) > MAX_REQUESTS:
            raise AppError(f"{path.name}: more than {MAX_REQUESTS} distinct requests")
    found = tuple(_request({"method": m, "path": t, "body": b, "headers": dict(h), "weight": n},
                           f"{path.name} entry {i}")
                  for i, ((m, t, b, h), n) in enumerate(counted.items()))
    if not found:
        raise AppError(f"{path.name}: no request in the HAR file")
    return found


def load(folder: Path | str) -> AppSpec:
    """Read and check the app in ``folder``.

    Raises:
        AppError: a missing folder or declaration, or anything in it the lab cannot use;
            the message says what and where.
    """
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise AppError(f"{folder} is not a folder")
    path = folder / DECLARATION
    if not path.is_file():
        raise AppError(f"{folder} has no {DECLARATION} (see docs/advise.md for its form)")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise AppError(f"{DECLARATION}: {exc}") from None
    app = data.get("app")
    if not isinstance(app, dict):
        raise AppError(f"{DECLARATION}: an [app] table is required")
    name = _need(app, "name", str, "[app]")
    if not _NAME.match(name):
        raise AppError(f"[app] name must be lower case letters, digits and -, up to 31, "
                       f"starting with a letter; got {name!r}")
    entry = _need(app, "entry", str, "[app]")
    if not _ENTRY.match(entry):
        raise AppError(f"[app] entry must be module:attribute (e.g. shop.wsgi:app), got {entry!r}")
    module = entry.split(":")[0].split(".")[0]
    requirements_file = folder / app.get("requirements", "requirements.txt")
    requirements = _requirements(folder, app.get("requirements", "requirements.txt"))
    project = _entry_home(folder, module, requirements)
    environment = app.get("environment", {})
    if not isinstance(environment, dict) or not all(
            _ENV.match(k) and isinstance(v, str) for k, v in environment.items()):
        raise AppError("[app.environment] must map UPPER_CASE names to text values")
    reserved = sorted(set(environment) & RESERVED_ENV)
    if reserved:
        raise AppError(f"[app.environment] may not set {', '.join(reserved)}: the lab's "
                       "instrument reads them")
    limits = data.get("limits", {})
    cpus = limits.get("cpus", 1.0)
    if not isinstance(cpus, (int, float)) or isinstance(cpus, bool) or not 0 < cpus <= 64:
        raise AppError(f"[limits] cpus must be a number in (0, 64], got {cpus!r}")
    cpus = float(cpus)
    cpuset = limits.get("cpuset")
    memory = str(limits.get("memory", "512M"))
    pids = limits.get("pids", 256)
    if not isinstance(pids, int) or isinstance(pids, bool):
        raise AppError(f"[limits] pids must be a whole number, got {pids!r}")
    try:
        if cpuset is not None:
            cpuset_size(str(cpuset))
        memory_bytes(memory)
    except ValueError as exc:
        raise AppError(f"[limits] {exc}") from None
    if pids < 32:
        raise AppError(f"[limits] pids must be at least 32, got {pids}")
    declared_objective = data.get("objective", {})
    try:
        slo = objective.parse(str(declared_objective.get("slo", "")))
    except ValueError as exc:
        raise AppError(f"[objective] {exc}") from None
    target = declared_objective.get("rate")
    if target is not None and (not isinstance(target, (int, float)) or not 0 < target <= 100_000):
        raise AppError(f"[objective] rate must be req/s in (0, 100000], got {target!r}")
    eventlet = app.get("eventlet", False)
    if not isinstance(eventlet, bool):
        raise AppError(f"[app] eventlet must be true or false, got {eventlet!r}")
    if "har" in app:
        requests = har_requests(folder / str(app["har"]))
    else:
        declared = data.get("requests")
        if not isinstance(declared, list) or not declared:
            raise AppError(f"{DECLARATION}: give the request mix as [[requests]], or "
                           "har = \"recorded.har\" in [app]")
        if len(declared) > MAX_REQUESTS:
            raise AppError(f"at most {MAX_REQUESTS} [[requests]], got {len(declared)}")
        requests = tuple(_request(r, f"[[requests]] {i + 1}") for i, r in enumerate(declared))
    backends = data.get("backends", {})
    postgres = None
    if "postgres" in backends:
        pg = backends["postgres"]
        if pg is True:
            pg = {}
        if not isinstance(pg, dict):
            raise AppError("[backends] postgres must be true or a table (schema, seed)")
        postgres = []
        for key in ("schema", "seed"):
            if key in pg:
                sql = folder / str(pg[key])
                if not sql.is_file():
                    raise AppError(f"[backends.postgres] {key}: {pg[key]} is not a file in {folder}")
                postgres.append(sql)
        postgres = tuple(postgres)
    return AppSpec(folder=folder, name=name, entry=entry, requirements=requirements,
                   requirements_file=requirements_file,
                   environment=dict(environment), cpus=cpus,
                   cpuset=str(cpuset) if cpuset is not None else None, memory=memory,
                   pids=pids, objective=slo, requests=requests, postgres=postgres,
                   upstream=bool(backends.get("upstream", False)),
                   target_rps=float(target) if target is not None else None, eventlet=eventlet,
                   project=project)
