"""The Pythons the lab runs its configurations on: one axis, declared in
``services/python/interpreters.toml``.

An interpreter is either the base image's own (``system``) or built on the host from a
Debian source package (``scripts/build-python.sh``), installed under ``/opt/python/<name>``
and copied into the image ``wsgi-lab/python:<name>``; each build is cached in that image,
keyed by what it was built from (``build_key``), so that it is built once per machine.

The demo app is then staged for each interpreter (``stage``): the servers' and the app's
pinned packages, each downloaded by that interpreter's own pip as a wheel for its ABI
(``cp313``, ``cp313t``). A package with no wheel for it is *substituted* by the newest
release of the same major version that has one, or *left out*, in pip's own words; the
record and the report list both (``Wheelhouse``), so that what runs on a free-threaded build
is what installs there, not a hand-kept list.

A level runs on an interpreter through its variant (``levels.Variant.python``):
``env`` gives the compose variables that pick the image.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from wsgilab.lab import compose, images
from wsgilab.lab.images import lock_pins
from wsgilab.model.interpreters import BUILD_SCRIPT, Interpreter, get
from wsgilab.model.paths import ROOT

STAGES = ROOT / "build" / "apps"
SERVERS_LOCK = ROOT / "services" / "servers" / "requirements" / "servers.lock"
APP_LOCK = ROOT / "services" / "app" / "requirements" / "app.lock"
#: Progress lines, shown as they happen even when the output is a file.
_say = partial(print, flush=True)
#: Wall seconds one pip download may take before it counts as failed (the index answers
#: in about a second here; a hang must not stall staging).
PIP_TIMEOUT_S = 120
#: pip downloads at once while staging: each mostly waits on the index.
PIP_PARALLEL = 4


class PythonNotBuilt(RuntimeError):
    """An interpreter's image or staged app is missing: ``make pythons`` builds them."""


def image_key(image: str) -> str | None:
    """The ``lab.python.build`` label of ``image``, None when there is no such image."""
    proc = subprocess.run(["docker", "image", "inspect", "--format",
                           '{{ index .Config.Labels "lab.python.build" }}', image],
                          capture_output=True, text=True)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def build(interp: Interpreter, base_image: str, out=_say) -> bool:
    """Build ``interp``'s image unless it is there with the same ``build_key``, and its
    host-side tree (``host_binary``) unless that is there too.

    Returns:
        True when it built, False when the cached image served.

    Raises:
        subprocess.CalledProcessError: the build failed (its log's tail is on stderr).
    """
    if interp.system:
        return False
    if image_key(interp.image) == interp.build_key and interp.host_binary.exists():
        out(f"[python {interp.name}] image {interp.image} is built (key {interp.build_key})")
        return False
    subprocess.run([str(BUILD_SCRIPT), interp.name, interp.source, interp.suite, base_image,
                    interp.image, interp.build_key, *interp.configure], check=True)
    return True


@dataclass
class Wheelhouse:
    """What a staged interpreter got of a lock's pins.

    Attributes:
        kept: ``name==version`` as pinned.
        substituted: ``{pinned: (installed, pip's reason for the pinned one)}``.
        left_out: ``{pinned: pip's reason}``.
    """

    kept: list[str] = field(default_factory=list)
    substituted: dict[str, tuple[str, str]] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)

    def requirements(self) -> str:
        """The requirements file the image installs: every kept or substituted pin."""
        names = self.kept + [new for new, _ in self.substituted.values()]
        return "".join(f"{pin}\n" for pin in sorted(names))

    def to_dict(self) -> dict:
        return {"kept": self.kept,
                "substituted": {k: list(v) for k, v in self.substituted.items()},
                "left_out": self.left_out}

    @classmethod
    def from_dict(cls, data: dict) -> Wheelhouse:
        return cls(kept=list(data.get("kept", ())),
                   substituted={k: tuple(v) for k, v in data.get("substituted", {}).items()},
                   left_out=dict(data.get("left_out", {})))


def pip_reason(output: str) -> str:
    """pip's own sentence for why it found nothing: its ``ERROR:`` lines, joined."""
    lines = [line.removeprefix("ERROR: ").strip() for line in output.splitlines()
             if line.startswith("ERROR:")]
    return " ".join(lines) or (output.strip().splitlines() or ["pip failed"])[-1]


def _download(python: Path, requirement: str, dest: Path) -> tuple[str | None, str]:
    """Download ``requirement``'s wheel for ``python``'s ABI into ``dest``.

    Returns:
        (``name==version`` downloaded or None, pip's output).
    """
    proc = subprocess.run(
        [str(python), "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
         "--only-binary=:all:", "--dest", str(dest), requirement],
        capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    output = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                       if not line.startswith("WARNING: Location"))
    if proc.returncode != 0:
        return None, output
    for line in output.splitlines():  # "Saved ./x/granian-2.7.9-cp313-cp313t-....whl"
        if line.strip().startswith(("Saved ", "File was already downloaded ")):
            wheel = Path(line.split()[-1]).name
            name, version = wheel.split("-")[:2]
            return f"{name.replace('_', '-').lower()}=={version}", output
    return None, output


def wheelhouse(python: Path, pins: list[str], dest: Path) -> Wheelhouse:
    """Each of ``pins`` as a wheel for ``python`` (module docstring): kept as pinned, or
    the newest release of the same major version that has a wheel, or left out.

    Raises:
        subprocess.TimeoutExpired: pip hung for ``PIP_TIMEOUT_S``.
    """
    dest.mkdir(parents=True, exist_ok=True)

    def one(pin: str) -> tuple[str, str | None, str]:
        """(pin, what was downloaded for it or None, pip's reason the pin itself failed)."""
        name, _, version = pin.partition("==")
        got, output = _download(python, pin, dest)
        if got:
            return pin, pin, ""
        major = version.split(".")[0]
        spec = f"{name}<{int(major) + 1}" if major.isdigit() else name
        return pin, _download(python, spec, dest)[0], pip_reason(output)

    found = Wheelhouse()
    # pip spends its time waiting on the index: a few at once, results in the pins' order.
    with ThreadPoolExecutor(max_workers=PIP_PARALLEL) as pool:
        for pin, got, reason in pool.map(one, pins):
            if got == pin:
                found.kept.append(pin)
            elif got:
                found.substituted[pin] = (got, reason)
            else:
                found.left_out[pin] = reason
    return found


def stage(interp: Interpreter, demo: Path | None = None, out=_say) -> Path:
    """Stage the demo app for ``interp`` under ``build/apps/demo-<tag>``: its code (from
    the default stage ``build/apps/demo``), ``servers/`` and ``wheels/`` for its ABI with
    their requirements files, and ``python.json`` (the interpreter and both
    ``Wheelhouse``\\ s). Cached: staged again only when the locks or the build change.

    Raises:
        PythonNotBuilt: the interpreter's host tree or the default stage is missing.
    """
    demo = demo or STAGES / "demo"
    if not interp.host_binary.exists():
        raise PythonNotBuilt(f"Python {interp.name} is not built here: make pythons")
    if not (demo / "code").exists():
        raise PythonNotBuilt(f"{demo} is not staged: make setup")
    target = STAGES / interp.stage_name
    key = hashlib.sha256((interp.build_key + SERVERS_LOCK.read_text() + APP_LOCK.read_text())
                         .encode()).hexdigest()
    facts_path = target / "python.json"
    if facts_path.exists() and json.loads(facts_path.read_text()).get("key") == key:
        shutil.rmtree(target / "code")
        shutil.copytree(demo / "code", target / "code")
        return target
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(demo / "code", target / "code")
    out(f"[python {interp.name}] downloading the servers' and the app's wheels for its ABI")
    servers = wheelhouse(interp.host_binary, lock_pins(SERVERS_LOCK), target / "servers" / "wheels")
    (target / "servers" / "requirements.txt").write_text(servers.requirements())
    app = wheelhouse(interp.host_binary, lock_pins(APP_LOCK), target / "wheels")
    (target / "requirements.txt").write_text(app.requirements())
    facts_path.write_text(json.dumps({"key": key, "interpreter": interp.to_dict(),
                                      "servers": servers.to_dict(), "app": app.to_dict()},
                                     indent=2, sort_keys=True))
    for pin, reason in {**servers.left_out, **app.left_out}.items():
        out(f"[python {interp.name}] left out {pin}: {reason}")
    for pin, (new, _) in {**servers.substituted, **app.substituted}.items():
        out(f"[python {interp.name}] {pin} has no wheel here: {new} instead")
    return target


def stage_app(interp: Interpreter, default_stage: Path, out=_say) -> tuple[Path, Wheelhouse]:
    """Stage a user's app for ``interp`` (``make advise --python``) from its default stage
    (``images.stage``: its code, requirements and, in a src layout, its own wheel) under
    ``build/apps/<app>-<tag>``: the servers' pins as wheels for its ABI (``wheelhouse``:
    kept, substituted, or left out in pip's words) and the app's requirements downloaded by
    the interpreter's own pip over what the servers kept. Staged again each time (the
    app's requirements are the user's, and change).

    Returns:
        (the stage, the servers' ``Wheelhouse``: the families whose package it left out
        cannot run the app on this interpreter).

    Raises:
        PythonNotBuilt: the interpreter's host tree is missing.
        images.RequirementConflict: the app's requirements have no wheels for its ABI, or
            conflict with what the servers kept (pip's words).
    """
    if not interp.host_binary.exists():
        raise PythonNotBuilt(f"Python {interp.name} is not built here: make pythons")
    target = STAGES / f"{default_stage.name}-{interp.tag}"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(default_stage / "code", target / "code")
    out(f"[python {interp.name}] downloading the servers' wheels for its ABI")
    servers = wheelhouse(interp.host_binary, lock_pins(SERVERS_LOCK), target / "servers" / "wheels")
    kept = target / "servers" / "requirements.txt"
    kept.write_text(servers.requirements())
    out(f"[python {interp.name}] downloading the app's requirements for its ABI")
    wheels = target / "wheels"
    wheels.mkdir(parents=True)
    proc = subprocess.run(
        [str(interp.host_binary), "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--only-binary=:all:", "--dest", str(wheels), "--constraint", str(kept),
         "--requirement", str(default_stage / "download.txt")],
        capture_output=True, text=True, timeout=PIP_TIMEOUT_S * 5)
    if proc.returncode != 0:
        raise images.RequirementConflict(
            f"the app's requirements cannot be installed on Python {interp.name}:\n"
            + images.conflict_lines(proc.stdout + proc.stderr))
    shutil.copy(default_stage / "requirements.txt", target / "requirements.txt")
    (target / "python.json").write_text(json.dumps(
        {"interpreter": interp.to_dict(), "servers": servers.to_dict()}, indent=2, sort_keys=True))
    for pin, reason in servers.left_out.items():
        out(f"[python {interp.name}] left out {pin}: {reason}")
    return target, servers


def staged_facts(interp: Interpreter) -> dict:
    """What ``stage`` recorded for ``interp`` (``python.json``); {} for the default or
    when not staged."""
    path = STAGES / interp.stage_name / "python.json"
    return {} if interp.system or not path.exists() else json.loads(path.read_text())


def app_image(interp: Interpreter, out=_say) -> str:
    """Build the demo app's image for ``interp`` (``wsgi-lab/app-demo:<tag>``) from its
    stage, through compose (one service that uses it), and return its name; docker's
    layer cache makes a rebuild of an unchanged stage quick.

    Raises:
        compose.ComposeError: the build failed (pip's words are in its output).
        PythonNotBuilt: no configuration uses the app image.
    """
    if interp.system:
        return interp.app_image
    env = interp.env()
    image = interp.app_image
    services = compose.config(env)["services"]
    service = next((name for name, svc in services.items()
                    if svc.get("image") == image and "build" in svc), None)
    if service is None:
        raise PythonNotBuilt(f"no configuration of the compose model uses {image}")
    out(f"[python {interp.name}] building {image}")
    compose.compose("build", service, env=env, capture=True)
    return image


def prepare(names: list[str], out=_say) -> None:
    """Everything ``names`` need before a level runs on them: the interpreter's image
    (``build``), the demo app staged for it (``stage``) and its app image (``app_image``).

    Raises:
        UnknownPython, PythonNotBuilt, subprocess.CalledProcessError,
        compose.ComposeError, images.RequirementConflict: as those functions say.
    """
    base = next(svc["build"]["args"]["BASE_IMAGE"] for svc in compose.config()["services"].values()
                if "BASE_IMAGE" in svc.get("build", {}).get("args", {}))
    if any(not get(name).system for name in names):
        compose.stage_demo()  # the code every interpreter's stage copies, as it is now
    for name in names:
        interp = get(name)
        if interp.system:
            continue
        build(interp, base, out)
        stage(interp, out=out)
        app_image(interp, out)
