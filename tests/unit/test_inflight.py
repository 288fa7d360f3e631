"""The in-flight counter is exact across threads and forked processes."""

import multiprocessing
import threading

from labapp.inflight import InflightCounter

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


def test_requests_are_counted_per_process(tmp_path):
    path = str(tmp_path / "c")
    _serve(path, 3)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_serve, args=(path, k)) for k in (2, 5)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    served = InflightCounter(path).served()
    import os
    assert served[os.getpid()] == 3
    assert sorted(served[p.pid] for p in procs) == [2, 5]
    assert InflightCounter(path).read() == 0


def test_a_full_table_puts_further_processes_in_its_last_slot(tmp_path, monkeypatch):
    from labapp import inflight
    path = str(tmp_path / "c")
    monkeypatch.setattr(inflight, "SLOTS", 2)
    monkeypatch.setattr(inflight, "_SIZE", inflight._COUNT.size + 2 * inflight._SLOT.size)
    ctx = multiprocessing.get_context("fork")
    for _ in range(3):
        p = ctx.Process(target=_serve, args=(path, 1))
        p.start()
        p.join(timeout=60)
    served = InflightCounter(path).served()
    assert len(served) == 2 and sum(served.values()) == 3
