"""Load the application the lab measures, named ``module:attribute``."""

from __future__ import annotations

import importlib
import os
import re

#: The variable naming the application: ``LAB_APP=shop.wsgi:app``.
APP_ENV = "LAB_APP"
_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class LoadError(RuntimeError):
    """The application named in LAB_APP cannot be loaded; the message says why."""


def spec_from_env() -> str:
    """``LAB_APP``'s value.

    Raises:
        LoadError: unset, or not ``module:attribute``.
    """
    spec = os.environ.get(APP_ENV, "")
    if not _SPEC.match(spec):
        raise LoadError(f"{APP_ENV} must name the WSGI application as module:attribute, got {spec!r}")
    return spec


def load(spec: str):
    """The WSGI callable ``spec`` names, importing its module.

    Raises:
        LoadError: the attribute is missing or not callable. An import that fails raises
            its own error, with its traceback: that is what the user needs to see.
    """
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    try:
        app = getattr(module, attribute)
    except AttributeError:
        raise LoadError(f"module {module_name} has no attribute {attribute!r}") from None
    if not callable(app):
        raise LoadError(f"{spec} is not callable: a WSGI application is a callable")
    return app


def module_of(spec: str):
    """The imported module of ``spec`` (for its optional ``lab_facts`` callable)."""
    return importlib.import_module(spec.partition(":")[0])
