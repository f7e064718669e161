"""WaitList: FIFO order, one entry per job, priorities, atomic pops."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from worker.throttle import WaitList


def test_first_in_first_out(waitlist: WaitList) -> None:
    for job in (5, 3, 9, 1):
        assert waitlist.push(job)
    assert waitlist.peek(10) == ["5", "3", "9", "1"]
    assert waitlist.pop(2) == ["5", "3"]
    assert waitlist.pop(10) == ["9", "1"]
    assert waitlist.pop(1) == []
    assert len(waitlist) == 0


def test_a_job_waits_at_most_once_and_keeps_its_place(waitlist: WaitList) -> None:
    assert waitlist.push_many([1, 2, 3]) == 3
    assert not waitlist.push(1)
    assert not waitlist.push("2", priority=0.0)
    assert waitlist.push_many([3, 4, 4, 1]) == 1
    assert len(waitlist) == 4
    assert waitlist.peek(4) == ["1", "2", "3", "4"]


def test_push_many_keeps_order_across_chunks(waitlist: WaitList) -> None:
    ids = [f"j{i}" for i in range(2500)]
    assert waitlist.push_many(ids) == 2500
    assert waitlist.pop(2500) == ids


def test_priority_zero_goes_to_the_head(waitlist: WaitList) -> None:
    waitlist.push_many(["a", "b", "c"])
    assert waitlist.push("refused", priority=0.0)
    assert waitlist.push("d")
    assert waitlist.peek(5) == ["refused", "a", "b", "c", "d"]


def test_remove_position_and_membership(waitlist: WaitList) -> None:
    waitlist.push_many(["a", "b", "c"])
    assert waitlist.position("c") == 2
    assert "b" in waitlist
    assert waitlist.remove("b")
    assert not waitlist.remove("b")
    assert "b" not in waitlist
    assert waitlist.position("b") is None
    assert waitlist.position("c") == 1
    assert waitlist.pop(0) == []
    assert waitlist.peek(0) == []


def test_concurrent_pops_never_hand_out_a_job_twice(waitlist: WaitList) -> None:
    ids = [str(i) for i in range(600)]
    waitlist.push_many(ids)

    def drain() -> list[str]:
        got: list[str] = []
        while batch := waitlist.pop(3):
            got.extend(batch)
        return got

    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda _: drain(), range(8)))
    popped = [j for r in results for j in r]
    assert sorted(popped, key=int) == ids
    assert len(popped) == len(set(popped))
    assert all(r == sorted(r, key=int) for r in results)  # each caller sees the order
