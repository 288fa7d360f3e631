"""Count the requests in flight in this container, across all its processes and threads.

Servers differ in how they spread requests: threads (gthread, the threaded dev server),
greenlets (gevent, eventlet), processes forked at start (gunicorn workers) or per request
(the dev server with ``processes=N``). A count that is right for all of them has to live
outside any one process, so it is a small file on the container's tmpfs (``/dev/shm``),
updated under an exclusive ``flock``.

Why not prometheus_client's multiprocess mode: it keeps one file per process and sums
them without a lock, so a sum read while one request ends in process A and another starts
in process B can count both. The lab compares peaks *exactly* (4 sync workers must read 4,
never 5), so increment-and-read has to be one atomic step.

The file is opened anew for every update: ``flock`` belongs to an open file description,
so a descriptor inherited across ``fork`` (the dev server forks per request) or shared by
threads would not exclude anybody.

The file holds a table of slots, one per process: (pid, requests in flight, requests
entered). The count in flight is the sum over processes that are alive, so a process that
dies mid-request (SIGKILL, the OOM killer, gunicorn's timeout abort) takes its requests
out of the count with it: whoever updates the table next finds the pid gone (``kill(pid,
0)``) and clears its slot's in-flight count. ``read()`` also treats a zombie (killed, not
yet reaped by its parent) as gone. A slot of a dead process with nothing in flight is
reused, so a server forking a process per request never fills the table.
"""

from __future__ import annotations

import fcntl
import os
import struct

#: One slot of the table: pid, requests in flight, requests entered.
_SLOT = struct.Struct("<qqq")
#: Slots in the table: more than any server here runs processes at once.
SLOTS = 64
_SIZE = SLOTS * _SLOT.size
DEFAULT_PATH = "/dev/shm/wsgi-lab-inflight"


def _alive(pid: int, zombies_dead: bool = False) -> bool:
    """Whether process ``pid`` exists (in this PID namespace); with ``zombies_dead``, a
    process that has exited but not been reaped counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if zombies_dead:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
        except (OSError, IndexError):
            return False
    return True


class InflightCounter:
    """A container-wide count of requests in flight, stored in one file.

    Args:
        path: the file that holds the table; created on first use. Every process that
            should share the count must use the same path on the same filesystem.
    """

    def __init__(self, path: str = DEFAULT_PATH) -> None:
        self.path = path

    def _update(self, delta: int, zombies_dead: bool = False) -> int:
        """Apply ``delta`` to this process's in-flight count; return the container's."""
        pid = os.getpid()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = bytearray(os.pread(fd, _SIZE, 0).ljust(_SIZE, b"\0"))
            slots = [list(_SLOT.unpack_from(raw, i * _SLOT.size)) for i in range(SLOTS)]
            changed = False
            for slot in slots:  # processes that died mid-request: their requests are gone
                if slot[0] and slot[0] != pid and slot[1] and not _alive(slot[0], zombies_dead):
                    slot[1], changed = 0, True
            mine = next((s for s in slots if s[0] == pid), None)
            if mine is None and delta > 0:
                mine = next((s for s in slots if not s[0] or (not s[1] and not _alive(s[0]))),
                            None)
                if mine is None:
                    mine = slots[-1]  # the table is full: share its last slot
                else:
                    mine[:] = [pid, 0, 0]
            if mine is not None and delta:
                mine[1] = max(0, mine[1] + delta)
                mine[2] += 1 if delta > 0 else 0
                changed = True
            if changed:
                for i, slot in enumerate(slots):
                    _SLOT.pack_into(raw, i * _SLOT.size, *slot)
                os.pwrite(fd, bytes(raw), 0)
            return sum(slot[1] for slot in slots)
        finally:
            os.close(fd)  # closing the descriptor also releases the lock

    def enter(self) -> int:
        """Count one more request in flight in this process.

        Returns:
            the number in flight in the container right after this one entered, itself
            included (>= 1).
        """
        return self._update(1)

    def leave(self) -> int:
        """Count one request fewer in flight. Returns the number still in flight."""
        return self._update(-1)

    def read(self) -> int:
        """Return the number of requests in flight now (processes that died mid-request,
        zombies included, count for nothing)."""
        return self._update(0, zombies_dead=True)

    def _slots(self) -> list[tuple[int, int, int]]:
        try:
            with open(self.path, "rb") as f:
                raw = f.read(_SIZE).ljust(_SIZE, b"\0")
        except FileNotFoundError:
            return []
        return [_SLOT.unpack_from(raw, i * _SLOT.size) for i in range(SLOTS)]

    def served(self) -> dict[int, int]:
        """Requests each process has entered so far, by pid (the last slot may hold several
        processes' if more than SLOTS were alive at once)."""
        return {pid: entered for pid, _, entered in self._slots() if pid}

    def by_process(self) -> dict[int, int]:
        """Requests in flight now in each process that has any, by pid (a read of the table
        as it stands: a process that just died may still show until the next update)."""
        return {pid: inflight for pid, inflight, _ in self._slots() if pid and inflight}
