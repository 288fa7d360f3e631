"""The Pythons the lab declares (``services/python/interpreters.toml``): one axis of a level.

The declaration only: what each interpreter is, read from the file, and the names a level
gives (``levels.Variant.python``). Building and staging them is the lab's
(``wsgilab.lab.pythons``). A record keeps each interpreter as it was (``to_dict``), so that
it reads after the declaration changes (``from_dict``).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from wsgilab.model.paths import ROOT

DECLARATION = ROOT / "services" / "python" / "interpreters.toml"
BUILD_SCRIPT = ROOT / "scripts" / "build-python.sh"
BUILDS = ROOT / "build" / "python"
#: The interpreter every configuration runs on unless a variant says otherwise.
DEFAULT = "3.11"


class UnknownPython(ValueError):
    """A name that ``interpreters.toml`` does not declare."""


@dataclass(frozen=True)
class Interpreter:
    """One declared Python.

    Attributes:
        name: ``"3.13t"``; the suffix ``t`` marks a free-threaded build (PEP 703).
        binary: the interpreter inside its image (``/opt/python/3.13t/bin/python3.13t``).
        system: the base image's own Python (nothing to build or stage).
        source, suite: the Debian source package and suite it is built from.
        configure: flags given to ``./configure`` besides ``--prefix``.
        summary: one line for reports.
    """

    name: str
    binary: str
    system: bool = False
    source: str = ""
    suite: str = ""
    configure: tuple[str, ...] = ()
    summary: str = ""

    @property
    def free_threaded(self) -> bool:
        """Built with ``--disable-gil`` (``Py_GIL_DISABLED``)."""
        return "--disable-gil" in self.configure

    @property
    def tag(self) -> str:
        """File-name form: ``"py3.13t"``."""
        return f"py{self.name}"

    @property
    def image(self) -> str:
        """The interpreter's image (the base image itself for ``system``)."""
        return f"wsgi-lab/python:{self.name}"

    @property
    def build_key(self) -> str:
        """What the build depends on: source, suite, flags and the build recipe's text
        (a changed script rebuilds), as a short hash."""
        text = json.dumps([self.name, self.source, self.suite, list(self.configure),
                           BUILD_SCRIPT.read_text()])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def host_binary(self) -> Path:
        """The interpreter in its host-side install tree (``build/python/<name>/root``),
        which runs here: the same bookworm libraries as the image."""
        return BUILDS / self.name / "root" / self.binary.lstrip("/")

    @property
    def stage_name(self) -> str:
        """The demo app's stage for this interpreter, under ``build/apps``."""
        return f"demo-{self.tag}"

    @property
    def app_image(self) -> str:
        """The demo app's image on this interpreter (``app_image`` builds it)."""
        return "wsgi-lab/app-demo:dev" if self.system else f"wsgi-lab/app-demo:{self.tag}"

    def env(self) -> dict[str, str]:
        """Compose variables that run a configuration on this interpreter
        (``compose/app.yml``); {} for the default."""
        if self.system:
            return {}
        return {"PYTHON_IMAGE": self.image, "PYTHON_BIN": self.binary,
                "APP_IMAGE_TAG": self.tag, "APP_STAGE": f"build/apps/{self.stage_name}",
                "APP_SERVERS": "staged"}

    def to_dict(self) -> dict:
        data = asdict(self)
        data["configure"] = list(self.configure)
        data["free_threaded"] = self.free_threaded
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Interpreter:
        """An interpreter as a record kept it (``to_dict``)."""
        configure = tuple(data.get("configure", ()))
        if data.get("free_threaded") and "--disable-gil" not in configure:
            configure += ("--disable-gil",)  # a record that kept the flag, not the flags
        return cls(name=data["name"], binary=data.get("binary", ""),
                   system=bool(data.get("system", False)), source=data.get("source", ""),
                   suite=data.get("suite", ""), configure=configure,
                   summary=data.get("summary", ""))


def declared(path: Path = DECLARATION) -> dict[str, Interpreter]:
    """Every interpreter ``path`` declares, by name.

    Raises:
        ValueError: a table lacks ``binary``, or a built one lacks ``source``/``suite``.
    """
    tables = tomllib.loads(path.read_text()).get("interpreters", {})
    found = {}
    for name, table in tables.items():
        system = bool(table.get("system", False))
        if "binary" not in table or (not system and not (table.get("source") and table.get("suite"))):
            raise ValueError(f"{path.name}: interpreter {name!r} needs binary, and source and "
                             "suite unless system = true")
        found[name] = Interpreter(name=name, binary=table["binary"], system=system,
                                  source=table.get("source", ""), suite=table.get("suite", ""),
                                  configure=tuple(table.get("configure", ())),
                                  summary=table.get("summary", ""))
    return found


def twin(threaded: Interpreter, known: dict[str, Interpreter] | None = None) -> Interpreter | None:
    """The declared interpreter built from ``threaded``'s source and suite with the same
    flags but ``--disable-gil``: what its cost is measured against. None when there is
    none, or when ``threaded`` is not free-threaded."""
    if not threaded.free_threaded:
        return None
    return next((i for i in (known or declared()).values()
                 if not i.system and not i.free_threaded and i.source == threaded.source
                 and i.suite == threaded.suite
                 and set(threaded.configure) - set(i.configure) == {"--disable-gil"}
                 and set(i.configure) <= set(threaded.configure)), None)


def get(name: str) -> Interpreter:
    """The declared interpreter ``name``.

    Raises:
        UnknownPython: not declared, with the names that are.
    """
    known = declared()
    if name not in known:
        raise UnknownPython(f"unknown Python {name!r}; declared in "
                            f"{DECLARATION.relative_to(ROOT)}: {', '.join(known)}")
    return known[name]


def of_record(kept: dict[str, dict]) -> dict[str, Interpreter]:
    """The interpreters a record kept (``BenchRecord.pythons``: ``{name: {"interpreter":
    ...}}``), as they were when it ran, in the declaration's order where they are still
    declared; a name the record kept no interpreter for is read from the declaration, and
    left out if it is gone from there too."""
    known = declared()
    found = {}
    for name, facts in kept.items():
        if (facts or {}).get("interpreter"):
            found[name] = Interpreter.from_dict(facts["interpreter"])
        elif name in known:
            found[name] = known[name]
    order = list(known)
    return dict(sorted(found.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
