"""A watch message that stays for the looks that follow, and hands over to exactly one message."""

from __future__ import annotations

import heapq
from pathlib import Path

from jobs.ledger.states import JobState
from ops.bench.figures import status_requests
from tests.pipeline.conftest import MakeHarness, write_manifest
from tests.pipeline.harness import Harness
from worker.names import Task
from worker.pipeline.dispatch import schedule_mark
from worker.pipeline.watch import ensure_watch, watch_turn


def _in_flight(make_harness: MakeHarness, tmp_path: Path, n: int = 4) -> tuple[Harness, int]:
    """`n` renders created and in flight, and the account's first look due now."""
    h = make_harness("--median-seconds", "60", "--spread", "0.2")
    batch = h.submit(write_manifest(tmp_path, [f"a lighthouse in fog, {i}" for i in range(n)]))
    h.drain(Task.SUBMIT)
    watches = [m for m in h.queue if m.task is Task.WATCH]
    assert len(watches) == 1
    h.queue.remove(watches[0])
    heapq.heapify(h.queue)
    h.advance(watches[0].due - h.clock())
    return h, batch.id


def _runs_to_the_end(h: Harness, batch_id: int) -> None:
    """Whatever the turn left behind, the messages take every job to the end."""
    h.run(batch_id)
    assert {j.state for j in h.ctx.ledger.jobs(batch_id)} == {JobState.STORED}


def _status_requests(h: Harness) -> int:
    return status_requests(h.sim.stats())


def test_a_turn_looks_until_nothing_is_in_flight_without_a_message_per_look(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h, batch_id = _in_flight(make_harness, tmp_path)
    h.ctx.settings.poll.watch_turn_s = 600.0  # longer than any of these renders
    lists_before = _status_requests(h)
    duplicates: list[int] = []

    def wait(seconds: float) -> None:
        # Mid-turn, the next look is announced: a new submit schedules no second chain, and a
        # redelivered watch message finds itself a duplicate and makes no look (closer to the
        # announced time than the claim's tolerance, it would be taken for the look itself).
        assert not ensure_watch(h.ctx), "a second chain of looks was scheduled mid-turn"
        due = float(h.ctx.redis.get(schedule_mark(h.ctx, "watch")) or 0)
        if due - h.clock() > h.ctx.settings.poll.min_interval_s:
            duplicates.append(watch_turn(h.ctx))
        h.advance(seconds)

    looks = watch_turn(h.ctx, lambda: True, wait)

    assert looks >= 5
    assert set(duplicates) == {0}
    # One list page per look and no single polls; the last look found nothing left to ask about.
    assert _status_requests(h) - lists_before == looks - 1
    assert not [m for m in h.queue if m.task in (Task.WATCH, Task.POLL)]
    # Every render was seen to end and handed to the store step; the chain ended with them.
    assert {j.state for j in h.ctx.ledger.jobs(batch_id)} == {JobState.DOWNLOADING}
    assert sum(m.task is Task.STORE for m in h.queue) == 4
    assert h.ctx.redis.get(schedule_mark(h.ctx, "watch")) is None
    _runs_to_the_end(h, batch_id)


def test_a_turn_told_to_go_hands_the_next_look_to_one_message(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h, batch_id = _in_flight(make_harness, tmp_path)
    answers = iter([True, False])

    looks = watch_turn(h.ctx, lambda: next(answers), h.advance)

    watches = [m for m in h.queue if m.task is Task.WATCH]
    assert len(watches) == 1
    # The message is the look the mark announced, so it claims the mark and goes on.
    announced = float(h.ctx.redis.get(schedule_mark(h.ctx, "watch")) or 0)
    assert abs(watches[0].due - announced) < 0.01
    # Asked after the first look, then before waiting for the second: the second answer.
    assert looks == 1
    _runs_to_the_end(h, batch_id)


def test_a_turn_ends_after_its_length_with_the_next_look_scheduled(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h, batch_id = _in_flight(make_harness, tmp_path)
    h.ctx.settings.poll.watch_turn_s = 20.0
    start = h.clock()

    looks = watch_turn(h.ctx, lambda: True, h.advance)

    # Looks every 8% of the expected 60 s: 4.8 s apart, so five fit in 20 s.
    assert 3 <= looks <= 6
    assert h.clock() - start <= 20.0
    assert [m.task for m in h.queue if m.task is Task.WATCH] == [Task.WATCH]
    assert not {j.state for j in h.ctx.ledger.jobs(batch_id)} & {JobState.DOWNLOADING}
    _runs_to_the_end(h, batch_id)
