"""Facts each serving process records about itself once it has loaded the application, kept
in one file on the container's tmpfs so that the health endpoint, answered by one process,
reports every process's: its interpreter, whether its GIL is enabled, which loop patched it
and whether it was patched before the app was imported.

A JSON object by pid, rewritten under an exclusive ``flock`` (the file is small: one entry
per live process); entries of processes that are gone are dropped on the next write.
"""

from __future__ import annotations

import fcntl
import json
import os

DEFAULT_PATH = "/dev/shm/lab-processes.json"
PATH_ENV = "LAB_PROCESSES_FILE"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _path() -> str:
    return os.environ.get(PATH_ENV, DEFAULT_PATH)


def record(facts: dict) -> None:
    """Record ``facts`` for this process (replacing what it recorded before)."""
    fd = os.open(_path(), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.pread(fd, 1 << 20, 0)
        table = json.loads(raw) if raw.strip() else {}
        table = {pid: f for pid, f in table.items() if _alive(int(pid))}
        table[str(os.getpid())] = facts
        data = json.dumps(table).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    finally:
        os.close(fd)


def read() -> dict[str, dict]:
    """Every live process's facts, by pid (as text)."""
    try:
        with open(_path(), "rb") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH)
            raw = f.read()
    except FileNotFoundError:
        return {}
    table = json.loads(raw) if raw.strip() else {}
    return {pid: f for pid, f in table.items() if _alive(int(pid))}
