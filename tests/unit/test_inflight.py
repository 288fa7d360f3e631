"""The in-flight counter is exact across threads and forked processes."""

import multiprocessing
import threading

from labinstrument.inflight import InflightCounter

N = 8


def test_counts_up_and_down(tmp_path):
    c = InflightCounter(str(tmp_path / "c"))
    assert c.read() == 0
    assert [c.enter(), c.enter(), c.leave(), c.read()] == [1, 2, 1, 1]


def _hold(path, barrier, seen):
    c = InflightCounter(path)
    seen.append(c.enter())
    barrier.wait(timeout=30)  # everyone is inside before anyone leaves
    c.leave()


def test_threads_see_every_other_thread(tmp_path):
    path = str(tmp_path / "c")
    barrier, seen = threading.Barrier(N), []
    threads = [threading.Thread(target=_hold, args=(path, barrier, seen)) for _ in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(1, N + 1)), "each entry must see a distinct count"
    assert InflightCounter(path).read() == 0


def test_forked_processes_share_one_count(tmp_path):
    path = str(tmp_path / "c")
    # Opened once in the parent, as a forking server would have it, before the forks.
    InflightCounter(path).read()
    ctx = multiprocessing.get_context("fork")
    barrier, seen = ctx.Barrier(N), ctx.Manager().list()
    procs = [ctx.Process(target=_hold, args=(path, barrier, seen)) for _ in range(N)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(seen) == list(range(1, N + 1)), "each entry must see a distinct count"
    assert InflightCounter(path).read() == 0


def _serve(path, n):
    c = InflightCounter(path)
    for _ in range(n):
        c.enter()
        c.leave()


def _serve_and_stay(path, n, done, release):
    _serve(path, n)
    done.release()
    release.wait(30)  # alive while the parent reads: a dead process's slot may be reused


def test_requests_are_counted_per_process(tmp_path):
    import os
    path = str(tmp_path / "c")
    _serve(path, 3)
    ctx = multiprocessing.get_context("fork")
    done, release = ctx.Semaphore(0), ctx.Event()
    procs = [ctx.Process(target=_serve_and_stay, args=(path, k, done, release)) for k in (2, 5)]
    for p in procs:
        p.start()
    for _ in procs:
        assert done.acquire(timeout=30)
    served = InflightCounter(path).served()
    release.set()
    for p in procs:
        p.join(timeout=60)
    assert served[os.getpid()] == 3
    assert sorted(served[p.pid] for p in procs) == [2, 5]
    assert InflightCounter(path).read() == 0


def _hold_two(path, ready, release):
    c = InflightCounter(path)
    c.enter()
    c.enter()
    ready.release()
    release.wait(30)
    c.leave()
    c.leave()


def test_dead_processes_slots_are_reused_and_a_full_table_still_counts(tmp_path, monkeypatch):
    from labinstrument import inflight
    path = str(tmp_path / "c")
    monkeypatch.setattr(inflight, "SLOTS", 2)
    monkeypatch.setattr(inflight, "_SIZE", 2 * inflight._SLOT.size)
    ctx = multiprocessing.get_context("fork")
    for _ in range(5):  # a forking server: a process per request, one after another
        p = ctx.Process(target=_serve, args=(path, 1))
        p.start()
        p.join(timeout=60)
    assert len(InflightCounter(path).served()) <= 2
    ready, release = ctx.Semaphore(0), ctx.Event()
    holders = [ctx.Process(target=_hold_two, args=(path, ready, release)) for _ in range(3)]
    for p in holders:
        p.start()
    for _ in holders:
        assert ready.acquire(timeout=30)
    assert InflightCounter(path).read() == 6, "three live processes in two slots: 6 in flight"
    release.set()
    for p in holders:
        p.join(timeout=60)
    assert InflightCounter(path).read() == 0


def _enter_and_die(path, entered):
    c = InflightCounter(path)
    c.enter()
    c.enter()
    entered.set()
    import time
    time.sleep(60)  # killed long before


def test_a_process_killed_mid_request_leaves_no_count_behind(tmp_path):
    """SIGKILL (the OOM killer, gunicorn's timeout abort) gives no chance to leave()."""
    import os
    import signal
    path = str(tmp_path / "c")
    ctx = multiprocessing.get_context("fork")
    entered = ctx.Event()
    victim = ctx.Process(target=_enter_and_die, args=(path, entered))
    victim.start()
    assert entered.wait(30)
    counter = InflightCounter(path)
    counter.enter()
    assert counter.read() == 3  # the victim's two requests and this one
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(timeout=30)  # reaped: gone from the process table
    assert counter.read() == 1, "the killed process's requests must leave the count with it"
    assert counter.leave() == 0


def test_a_zombie_counts_for_nothing_when_read(tmp_path):
    """Killed but not yet reaped by its parent (a gunicorn worker between SIGKILL and the
    arbiter's waitpid): read() already leaves it out."""
    import os
    import signal
    import time
    path = str(tmp_path / "c")
    pid = os.fork()
    if pid == 0:
        InflightCounter(path).enter()
        time.sleep(60)
        os._exit(0)
    while InflightCounter(path).read() != 1:
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)  # dead, not reaped: a zombie
    try:
        assert InflightCounter(path).read() == 0
    finally:
        os.waitpid(pid, 0)
