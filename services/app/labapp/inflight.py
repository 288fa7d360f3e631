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

In the same locked step the file counts the requests each process has entered (a fixed
table of (pid, count) slots after the in-flight count), so that the lab can show how the
kernel spread a level's connections over a server's workers. A forking server starts a
process per request; once the table is full, further processes share its last slot.
"""

from __future__ import annotations

import fcntl
import os
import struct

_COUNT = struct.Struct("<q")
#: One slot of the per-process table: pid, requests it entered.
_SLOT = struct.Struct("<qq")
#: Slots in the table: more than any server here runs workers (16 at most).
SLOTS = 64
_SIZE = _COUNT.size + SLOTS * _SLOT.size
DEFAULT_PATH = "/dev/shm/wsgi-lab-inflight"


class InflightCounter:
    """A container-wide count of requests in flight, stored in one file.

    Args:
        path: the file that holds the count; created on first use. Every process that
            should share the count must use the same path on the same filesystem.
    """

    def __init__(self, path: str = DEFAULT_PATH) -> None:
        self.path = path

    def _add(self, delta: int) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = bytearray(os.pread(fd, _SIZE, 0).ljust(_SIZE, b"\0"))
            count = _COUNT.unpack_from(raw)[0] + delta
            if delta:
                _COUNT.pack_into(raw, 0, count)
                if delta > 0:
                    self._count_this_process(raw)
                os.pwrite(fd, bytes(raw), 0)
            return count
        finally:
            os.close(fd)  # closing the descriptor also releases the lock

    @staticmethod
    def _count_this_process(raw: bytearray) -> None:
        pid = os.getpid()
        for i in range(SLOTS):
            offset = _COUNT.size + i * _SLOT.size
            slot_pid, served = _SLOT.unpack_from(raw, offset)
            if slot_pid in (pid, 0) or i == SLOTS - 1:
                _SLOT.pack_into(raw, offset, slot_pid or pid, served + 1)
                return

    def enter(self) -> int:
        """Count one more request in flight.

        Returns:
            the number in flight right after this one entered, itself included (>= 1).
        """
        return self._add(1)

    def leave(self) -> int:
        """Count one request fewer in flight. Returns the number still in flight."""
        return self._add(-1)

    def read(self) -> int:
        """Return the number of requests in flight now, without changing it."""
        return self._add(0)

    def served(self) -> dict[int, int]:
        """Requests each process has entered so far, by pid (the last slot may hold
        several processes' once the table is full)."""
        try:
            with open(self.path, "rb") as f:
                raw = f.read(_SIZE).ljust(_SIZE, b"\0")
        except FileNotFoundError:
            return {}
        slots = (_SLOT.unpack_from(raw, _COUNT.size + i * _SLOT.size) for i in range(SLOTS))
        return {pid: served for pid, served in slots if pid}
