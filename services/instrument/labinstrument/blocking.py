"""What blocked a gevent hub, from gevent's own monitor thread.

Where gevent runs and its monitor thread is on (``GEVENT_MONITOR_THREAD_ENABLE=true``,
``GEVENT_MAX_BLOCKING_TIME`` in seconds: gevent's configuration), gevent reports a
greenlet that kept the hub from running longer than that, with the blocked stack, and
notifies ``gevent.events.EventLoopBlocked`` subscribers (gevent docs, "Monitoring and
Debugging"). ``watch`` subscribes and appends each report, the innermost frame of the
blocked stack named, to a file on the container's tmpfs that the health endpoint reads.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time

DEFAULT_PATH = "/dev/shm/lab-blocked.jsonl"
PATH_ENV = "LAB_BLOCKED_FILE"
#: The most reports kept (the oldest are dropped).
MAX_REPORTS = 50
_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def _path() -> str:
    return os.environ.get(PATH_ENV, DEFAULT_PATH)


def blocked_frames(info: list[str]) -> list[dict]:
    """The frames of the "Blocked Stack" section of a gevent report, outermost first."""
    frames, inside = [], False
    for line in info:
        for part in line.splitlines():
            if part.startswith("Blocked Stack"):
                inside = True
                continue
            if inside and not part.strip():
                if frames:
                    return frames
                continue
            if inside:
                found = _FRAME.search(part)
                if found:
                    frames.append({"file": found.group(1), "line": int(found.group(2)),
                                   "function": found.group(3)})
                elif frames and not part.startswith("    "):
                    return frames
    return frames


def _keep(report: dict) -> None:
    fd = os.open(_path(), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        lines = os.pread(fd, 1 << 20, 0).decode().splitlines()[-(MAX_REPORTS - 1):]
        lines.append(json.dumps(report))
        data = ("\n".join(lines) + "\n").encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    finally:
        os.close(fd)


def watch() -> bool:
    """Subscribe to gevent's EventLoopBlocked reports in this process, if gevent runs here
    and its monitor thread is on. Returns whether it subscribed."""
    import sys

    if "gevent" not in sys.modules:
        return False
    import gevent
    from gevent import events

    if not gevent.config.monitor_thread:
        return False

    def on_event(event):
        if isinstance(event, events.EventLoopBlocked):
            frames = blocked_frames(list(event.info))
            _keep({"pid": os.getpid(), "time": time.time(),
                   "blocking_time_s": getattr(event, "blocking_time", None),
                   "frames": frames[-8:],
                   "function": frames[-1]["function"] if frames else None})

    events.subscribers.append(on_event)
    return True


def reports() -> list[dict]:
    """The reports kept so far, oldest first."""
    try:
        with open(_path()) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []
