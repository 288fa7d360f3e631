"""One adapter per server family: how its settings are read, and what they promise.

Each module here (``werkzeug``, ``gunicorn``, ...) is an adapter and defines:

- ``NAME``: the ``server`` value its running server reports on ``/healthz``;
- ``REPORTED_BY``: how the running server reports its resolved settings;
- ``declared(command) -> dict | None``: the settings a compose command declares, parsed with
  the server's own parser where it has one (None: not this family's command);
- ``model(settings) -> theory.Capacity``: the cap, the sustained concurrency and the CPU
  parallelism those settings give, with sources in the module's docstring.

Adding a server family means adding its module here, its launcher (if the server cannot
report by itself) and its compose file; nothing else looks up a family by name.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from functools import cache
from types import ModuleType

from wsgilab.model.paths import ROOT
from wsgilab.model.theory import Capacity, UnknownServer

#: The launchers' own parsers live in the instrument's package, which the host imports too.
_INSTRUMENT_SOURCE = str(ROOT / "services" / "instrument")
if _INSTRUMENT_SOURCE not in sys.path:
    sys.path.append(_INSTRUMENT_SOURCE)


def launched(name: str, command: list[str], keys: tuple[str, ...] | None = None) -> dict | None:
    """``{"server": name, key: value, ...}`` for ``keys`` (default: the launcher's own
    ``KEYS``) of what ``command`` resolves to when it runs the launcher
    ``labinstrument.launchers.<name>``, parsed by that launcher's ``declared`` (the
    server's own parser); None when ``command`` runs something else."""
    launcher = ["python3", "-m", f"labinstrument.launchers.{name}"]
    if command[:3] != launcher:
        return None
    module = importlib.import_module(launcher[2])
    settings = module.declared(command[3:])
    return {"server": name, **{key: settings[key] for key in (keys or module.KEYS)}}


@cache
def adapters() -> dict[str, ModuleType]:
    """Every adapter module of this package, by the ``NAME`` it declares."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[module.NAME] = module
    return found


def adapter(settings: dict) -> ModuleType:
    """The adapter for the server that reported ``settings``.

    Raises:
        UnknownServer: no adapter has that ``server`` name.
    """
    name = settings.get("server")
    try:
        return adapters()[name]
    except KeyError:
        raise UnknownServer(f"no adapter for server {name!r} (settings {settings}); "
                            f"known: {', '.join(sorted(adapters()))}") from None


def model(settings: dict) -> Capacity:
    """The capacity model of the server that reported ``settings``.

    Raises:
        UnknownServer: no adapter for that server, or a mode its adapter has no theory for.
    """
    return adapter(settings).model(settings)


def declared(command: list[str]) -> dict:
    """The settings a compose ``command`` declares, parsed by its family's adapter.

    Raises:
        UnknownServer: no adapter recognises the command.
    """
    for module in adapters().values():
        settings = module.declared(command)
        if settings is not None:
            return settings
    raise UnknownServer(f"no adapter recognises the command {command}")
