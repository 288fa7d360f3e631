"""What this process runs on: the interpreter and its build, whether the GIL is enabled, and
which coroutine library patched it. Read per process, after the application was imported
(an extension module can enable the GIL again on import: CPython's free-threading HOWTO)."""

from __future__ import annotations

import platform
import sys
import sysconfig


def gil_enabled() -> bool:
    """Whether the GIL is enabled in this process now (``sys._is_gil_enabled``, 3.13+);
    True on interpreters that always have one."""
    check = getattr(sys, "_is_gil_enabled", None)
    return bool(check()) if check else True


def free_threaded_build() -> bool:
    """Whether the interpreter was built free-threaded (``Py_GIL_DISABLED``, PEP 703)."""
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def patched_by() -> str | None:
    """Which coroutine library patched this process's ``socket`` module: ``"gevent"``,
    ``"eventlet"`` or None."""
    if "gevent" in sys.modules:
        from gevent import monkey

        if monkey.is_module_patched("socket"):
            return "gevent"
    if "eventlet" in sys.modules:
        from eventlet import patcher

        if patcher.is_monkey_patched("socket"):
            return "eventlet"
    return None


def python() -> dict:
    """``{"version", "implementation", "free_threaded_build"}`` of this interpreter."""
    return {"version": platform.python_version(), "implementation": platform.python_implementation(),
            "free_threaded_build": free_threaded_build()}


def gil_modules() -> list[str]:
    """Extension modules loaded in this process that did not declare free-threading
    support, where the interpreter can say (``sys._is_gil_enabled`` false means none that
    mattered); empty elsewhere. CPython enables the GIL on importing such a module and
    warns; the names come from the ``RuntimeWarning`` it issued, kept by ``record``."""
    return list(_GIL_WARNINGS)


_GIL_WARNINGS: list[str] = []


def record_gil_warnings() -> None:
    """Keep the module names of CPython's "enabling the GIL" warnings from now on
    (``The global interpreter lock (GIL) has been enabled to load module 'x'``)."""
    import warnings

    shown = warnings.showwarning

    def keep(message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if "GIL" in text and "module '" in text:
            _GIL_WARNINGS.append(text.split("module '", 1)[1].split("'", 1)[0])
        return shown(message, category, filename, lineno, file, line)

    warnings.showwarning = keep
