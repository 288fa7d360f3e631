"""An app staged for its images: what ``services/instrument/Dockerfile`` builds from.

Every app the lab measures, its own demo app included, is built the same way: the
servers (hashed, ``services/servers/requirements``), then the app's requirements over the
servers' pins, then the instrument and the app's code. ``stage`` lays the app out under
``build/apps/<name>/``, inside the build context:

- ``code/``: the app's folder (no virtualenvs, caches, VCS or wheelhouses);
- ``requirements.txt``: its requirements as declared (from ``pyproject.toml``'s
  dependencies where that is what it gave);
- ``wheels/``: where no registry is reachable (``BASE_IMAGE`` is not the upstream image),
  its requirements downloaded on the host (its Python is the image's: 3.11), over the
  servers' pins, so that a conflict is found here, before any build. Downloaded again only
  when the requirements or the pins change.

- an app in a src layout (its module under ``src/``, the folder a project with a
  ``pyproject.toml``) is built into a wheel on the host (``pip wheel --no-deps``) and
  installed from it as pip would, its path a line of ``requirements.txt``.

Raises ``RequirementConflict`` with pip's own words where the app's requirements and the
servers' pins cannot be installed together, or its own project does not build. Given the
server families and the distributions each needs, a conflict with the ``servers`` lock
instead leaves out only the families that cannot install the app (each tried on its own
pins: ``lock_closure``), in pip's words; the rest are staged under ``servers/`` (their
pins and wheels) and the image installs those (``staged_servers``, ``left_out``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from wsgilab.model.paths import ROOT

STAGES = ROOT / "build" / "apps"
SERVERS = ROOT / "services" / "servers" / "requirements"
#: Files and folders never copied into an image.
IGNORED = ("__pycache__", "*.pyc", ".git", ".venv", "venv", ".tox", "wheels", "node_modules",
           ".pytest_cache", ".mypy_cache")
#: The upstream base image, where pip reaches the index during the build (no wheelhouse).
UPSTREAM_BASE = "python:3.11-slim-bookworm"


def app_image(app: str, servers: str) -> str:
    """An app's image for a server lock: ``wsgi-lab/app-shop:servers`` (``servers`` names
    the lock under ``services/servers/requirements``). The advise project builds it, and
    the Kubernetes manifests of its recommendation (``wsgilab.lab.kubernetes``) run it."""
    return f"wsgi-lab/app-{app}:{servers}"


class RequirementConflict(RuntimeError):
    """The app's requirements cannot be installed over the servers' pins; the message
    carries pip's account of the conflict."""


def lock_pins(lock: Path) -> list[str]:
    """``name==version`` of every package a hashed lock pins, in its order."""
    return [line.split()[0] for line in lock.read_text().splitlines()
            if line and line[0].isalnum() and "==" in line]


def lock_closure(lock: Path, roots: tuple[str, ...] | list[str]) -> list[str]:
    """``name==version`` of the packages a pip-compile lock installs for ``roots`` (names):
    the roots and, through the lock's ``# via`` annotations, everything they pull in, in
    the lock's order. A root the lock does not pin is ignored.

    >>> lock_closure(SERVERS / "servers.lock", ["granian"])  # doctest: +SKIP
    ['click==8.5.1', 'granian==2.8.7']
    """
    blocks: dict[str, tuple[str, set[str]]] = {}
    current = None
    for line in lock.read_text().splitlines():
        if line and line[0].isalnum() and "==" in line:
            pin = line.split()[0]
            current = canonicalize_name(pin.partition("==")[0])
            blocks[current] = (pin, set())
        elif current and line.strip().startswith("#"):
            # "    # via gevent", "    # via", "    #   gevent", "    #   -r servers.in"
            words = line.strip().lstrip("#").strip().removeprefix("via").strip()
            if words and not words.startswith("-"):
                blocks[current][1].add(canonicalize_name(words.split()[0]))
    wanted = {canonicalize_name(r) for r in roots} & blocks.keys()
    grown = True
    while grown:
        more = {name for name, (_, parents) in blocks.items() if parents & wanted} - wanted
        wanted |= more
        grown = bool(more)
    return [pin for name, (pin, _) in blocks.items() if name in wanted]


def pins(servers: str = "servers") -> list[str]:
    """``name==version`` of every package the servers' lock ``servers`` pins."""
    return lock_pins(SERVERS / f"{servers}.lock")


def conflict_lines(output: str) -> str:
    """The lines of pip's output that say what conflicts (or its last lines): its errors
    and the account under "The conflict is caused by:" (which package asks for which
    version), without its generic advice."""
    lines = output.splitlines()
    keep, cause = [], False
    for line in lines:
        if line.startswith("The conflict is caused by"):
            cause = True
            keep.append(line)
        elif cause and line.startswith(" "):
            keep.append(line)
        else:
            cause = False
            if any(k in line for k in ("Cannot install", "requires", "No matching",
                                       "Could not find a version", "ERROR")):
                keep.append(line)
    return "\n".join(keep or lines[-12:])


def stage(name: str, folder: Path, requirements: Path, base_image: str,
          servers: tuple[str, ...] = ("servers",), project: str | None = None,
          families: dict[str, tuple[str, tuple[str, ...]]] | None = None) -> Path:
    """Lay the app out under ``build/apps/<name>`` (module docstring) and return it.

    Args:
        name: the app's name; folder: its code; requirements: its requirements file
            (requirements.txt, a hashed lock, or pyproject.toml).
        base_image: the images' base: its wheelhouse is downloaded unless it is the
            upstream image.
        servers: the server locks the app will be installed over (each is checked).
        project: the folder's own distribution where the app is in a src layout
            (``AppSpec.project``): built into a wheel and installed with the requirements.
        families: ``{family: (its server lock, the distributions it needs)}``: where
            given, a conflict leaves out only the families that cannot install the app
            (``left_out``), and raises only when none of a lock's families can.

    Raises:
        RequirementConflict: the requirements conflict with a server's pins (with every
            family's, where ``families`` is given), or the
            project does not build (pip's words), or a src layout is asked of the upstream
            base image (its build reaches the index, not a wheelhouse).
    """
    target = STAGES / name
    code = target / "code"
    if code.exists():
        shutil.rmtree(code)
    shutil.copytree(folder, code, ignore=shutil.ignore_patterns(*IGNORED))
    target.mkdir(parents=True, exist_ok=True)
    wanted = _requirements_text(requirements)
    wheels = target / "wheels"
    wheels.mkdir(exist_ok=True)
    # What the image installs, and what the host downloads for it: the same lines, but the
    # project's own wheel is at its path inside the build there and on the host here.
    installed = downloaded = wanted
    if project:
        if base_image == UPSTREAM_BASE:
            raise RequirementConflict(f"{project}: a src layout is installed from the lab's "
                                      "wheelhouse, which the upstream base image does not use")
        wheel = _project_wheel(folder, project, wheels)
        digest = hashlib.sha256((wheels / wheel).read_bytes()).hexdigest()
        pin = f" --hash=sha256:{digest}" if "--hash=" in wanted else ""
        installed = wanted + f"/build/app/wheels/{wheel}{pin}\n"
        downloaded = wanted + f"{wheels / wheel}{pin}\n"
    (target / "requirements.txt").write_text(installed)
    # The Dockerfile copies servers/ from every stage; only another Python's fills it
    # (wsgilab/pythons.py).
    staged = target / "servers"
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir()
    (staged / ".keep").touch()
    if base_image == UPSTREAM_BASE:
        for old in wheels.iterdir():
            old.unlink()
        return target
    (target / "download.txt").write_text(downloaded)
    left_out: dict[str, str] = {}
    for group in servers:
        try:
            _download(target, downloaded, group, wheels)
        except RequirementConflict as conflict:
            mine = {f: d for f, (g, d) in (families or {}).items() if g == group}
            if not mine:
                raise
            left_out.update(_per_family(target, group, mine, wheels, conflict))
    if left_out:
        (staged / LEFT_OUT).write_text(json.dumps(left_out, indent=1) + "\n")
    return target


#: Where a stage says which families could not install the app (``{family: pip's words}``).
LEFT_OUT = "left-out.json"


def left_out(target: Path) -> dict[str, str]:
    """The families a stage left out, each with pip's words (empty: none)."""
    path = target / "servers" / LEFT_OUT
    return json.loads(path.read_text()) if path.exists() else {}


def staged_servers(target: Path) -> bool:
    """Whether the stage installs its own servers (``servers/requirements.txt``: the pins
    of the families that install the app), not the whole lock."""
    return (target / "servers" / "requirements.txt").exists()


def _per_family(target: Path, group: str, families: dict[str, tuple[str, ...]],
                wheels: Path, conflict: RequirementConflict) -> dict[str, str]:
    """After the app conflicted with ``group``'s whole lock: each family tried on its own
    pins (``lock_closure``); those that cannot install the app are left out with pip's
    words. For the ``servers`` lock the others' pins and wheels are staged under
    ``servers/`` (the image installs those); another lock is all or nothing, as one image.

    Raises:
        RequirementConflict: no family of the lock installs the app (pip's words), or the
            families that do, each alone, do not together.
    """
    lock = SERVERS / f"{group}.lock"
    found: dict[str, str] = {}
    kept: list[str] = []
    tried: dict[tuple[str, ...], str | None] = {}
    for family, needs in families.items():
        mine = tuple(lock_closure(lock, needs))
        if mine not in tried:
            tried[mine] = _resolve(target, mine, wheels)
        if tried[mine] is None:
            kept += [pin for pin in mine if pin not in kept]
        else:
            found[family] = tried[mine]
    if not kept or group != "servers":
        raise conflict
    why = _resolve(target, tuple(kept), wheels)
    if why is not None:
        raise RequirementConflict(f"the families that install the app each alone do not "
                                  f"together over the {group} image's pins:\n{why}")
    staged = target / "servers"
    (staged / "wheels").mkdir(exist_ok=True)
    names = {canonicalize_name(pin.partition("==")[0]): pin.partition("==")[2] for pin in kept}
    for wheel in (SERVERS.parent / "wheels").glob("*.whl"):
        name, version, *_ = parse_wheel_filename(wheel.name)
        if names.get(name) == str(version):
            shutil.copy2(wheel, staged / "wheels" / wheel.name)
    (staged / "requirements.txt").write_text("".join(f"{pin}\n" for pin in kept))
    return found


def _project_wheel(folder: Path, project: str, wheels: Path) -> str:
    """Build the folder's own project into ``wheels`` (``pip wheel --no-deps``, as pip
    would install it) and return the wheel's file name.

    Raises:
        RequirementConflict: it does not build, with pip's last lines.
    """
    def ours(wheel: Path) -> bool:
        return parse_wheel_filename(wheel.name)[0] == canonicalize_name(project)

    for old in filter(ours, wheels.glob("*.whl")):
        old.unlink()
    # Built from a copy: a build backend writes build/ and *.egg-info into its source.
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "project"
        shutil.copytree(folder, source, ignore=shutil.ignore_patterns(*IGNORED))
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                               "--disable-pip-version-check", "--wheel-dir", str(wheels),
                               str(source)], capture_output=True, text=True)
    built = [w.name for w in filter(ours, wheels.glob("*.whl"))]
    if proc.returncode != 0 or not built:
        raise RequirementConflict(f"the app's own project {project} did not build:\n"
                                  + conflict_lines(proc.stdout + proc.stderr))
    return built[0]


def _requirements_text(path: Path) -> str:
    if path.name == "pyproject.toml":
        import tomllib

        deps = tomllib.loads(path.read_text()).get("project", {}).get("dependencies", [])
        return "".join(f"{d}\n" for d in deps)
    return path.read_text()


def _download(target: Path, wanted: str, group: str, wheels: Path) -> None:
    """The wheelhouse for ``wanted`` over ``group``'s pins, unless it is already there.

    Raises:
        RequirementConflict: pip cannot, with its words.
    """
    key = hashlib.sha256((wanted + "\n".join(pins(group))).encode()).hexdigest()
    done = target / f"wheels-{group}.sha256"
    if done.exists() and done.read_text() == key:
        return
    done.unlink(missing_ok=True)
    why = _resolve(target, tuple(pins(group)), wheels)
    if why is not None:
        raise RequirementConflict(
            f"the app's requirements cannot be installed over the {group} image's pins:\n{why}")
    done.write_text(key)


def _resolve(target: Path, constraints: tuple[str, ...], wheels: Path) -> str | None:
    """Download the app's requirements (``download.txt``) into ``wheels`` over
    ``constraints`` (``name==version`` pins); None where pip could, else pip's words."""
    wanted = (target / "download.txt").read_text()
    pinned = target / "constraints.txt"
    pinned.write_text("".join(f"{pin}\n" for pin in constraints))
    hashed = "--hash=" in wanted
    # No --quiet: pip says which package asks for which version only at its normal level.
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
           "--dest", str(wheels), "--constraint", pinned.name, "--requirement", "download.txt"]
    # A hashed lock lists every package it needs (pip checks them); anything else brings
    # its own dependencies. psycogreen-like sdists build offline with the lock's tools.
    cmd += ["--require-hashes", "--no-deps", "--prefer-binary"] if hashed else ["--prefer-binary"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=target)
    if proc.returncode == 0:
        return None
    output = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                       if not line.startswith("WARNING: Location"))
    return conflict_lines(output)
