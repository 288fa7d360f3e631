"""Where the lab's own files are: the repository's root, which every path a record keeps is
relative to (``relative``), so that a record made on one machine reads on another."""

from __future__ import annotations

from pathlib import Path

#: The repository's root (this file is wsgilab/model/paths.py).
ROOT = Path(__file__).resolve().parent.parent.parent


def relative(path: Path | str, base: Path = ROOT) -> str:
    """``path`` as a record keeps it: relative to ``base`` (the repository, or a run's
    folder) when it lies inside it, else as given (a user's app outside the checkout)."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def absolute(text: str, base: Path = ROOT) -> Path:
    """A path a record keeps (``relative``), back as a path on this machine."""
    path = Path(text)
    return path if path.is_absolute() else base / path
