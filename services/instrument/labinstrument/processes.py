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


#: The fields of /proc/<pid>/smaps_rollup (kB) a process's memory is reported from.
_ROLLUP = {"Rss": "rss_bytes", "Pss": "pss_bytes", "Private_Clean": "private_bytes",
           "Private_Dirty": "private_bytes"}


def memory(pid: int) -> dict:
    """``pid``'s memory now, in bytes: ``rss_bytes``, ``pss_bytes`` (its proportional
    share: shared pages divided among the processes that map them, so that the processes'
    Pss add up to what they hold together) and ``private_bytes`` (what only it holds: what
    one more such process would add). From ``/proc/<pid>/smaps_rollup`` (Linux 4.14;
    proc(5)); {} when it cannot be read."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in _ROLLUP:
                    name = _ROLLUP[key]
                    found[name] = found.get(name, 0) + int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return {}
    return found


def read_with_memory() -> dict[str, dict]:
    """``read()``, each process's entry with its ``memory`` now."""
    return {pid: {**facts, "memory": memory(int(pid))} for pid, facts in read().items()}
