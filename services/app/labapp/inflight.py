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
"""

from __future__ import annotations

import fcntl
import os
import struct

_COUNT = struct.Struct("<q")
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
            raw = os.pread(fd, _COUNT.size, 0)
            count = _COUNT.unpack(raw)[0] if len(raw) == _COUNT.size else 0
            if delta:
                count += delta
                os.pwrite(fd, _COUNT.pack(count), 0)
            return count
        finally:
            os.close(fd)  # closing the descriptor also releases the lock

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
