from __future__ import annotations

import threading
import time

from nordsearch.search.locking import ReadWriteLock


def test_readers_share_and_a_writer_waits_for_them():
    lock = ReadWriteLock()
    inside = threading.Barrier(2, timeout=5)
    events: list[str] = []

    def reader(name: str) -> None:
        with lock.read():
            inside.wait()  # both readers are inside at once, or this times out
            events.append(name)

    threads = [threading.Thread(target=reader, args=(n,)) for n in ("r1", "r2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert sorted(events) == ["r1", "r2"]

    lock.acquire_read()
    wrote = threading.Event()

    def writer() -> None:
        with lock.write():
            wrote.set()

    w = threading.Thread(target=writer)
    w.start()
    time.sleep(0.1)
    assert not wrote.is_set()  # a reader is inside
    lock.release_read()
    w.join(5)
    assert wrote.is_set()


def test_the_writer_may_re_enter_and_read():
    lock = ReadWriteLock()
    with lock.write(), lock.write(), lock.read():
        pass
    with lock.read():  # released completely
        pass


def test_a_waiting_writer_goes_before_new_readers():
    lock = ReadWriteLock()
    lock.acquire_read()
    order: list[str] = []
    w = threading.Thread(target=lambda: (lock.acquire_write(), order.append("w"), lock.release_write()))
    w.start()
    time.sleep(0.1)
    r = threading.Thread(target=lambda: (lock.acquire_read(), order.append("r"), lock.release_read()))
    r.start()
    time.sleep(0.1)
    assert order == []
    lock.release_read()
    w.join(5)
    r.join(5)
    assert order == ["w", "r"]
