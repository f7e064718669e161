"""The Celery floor benchmark on a few tasks: it runs them all and reports plausible figures."""

from __future__ import annotations

from pathlib import Path

from ops.bench.celery_floor import measure


def test_the_floor_benchmark_counts_every_task_and_some_cpu(redis_url: str, tmp_path: Path) -> None:
    for events, sent in ((True, False), (False, False), (True, True)):
        figures = measure(redis_url, 20, events, tmp_path, sent=sent)
        assert (figures["events"], figures["sent_events"], figures["tasks"]) == (events, sent, 20)
        # The worker did run the 20 tasks (measure waits for their count) and spent CPU on them.
        assert 0 < figures["worker_ms_per_task"] < 1000
        assert 0 < figures["sender_ms_per_message"] < 1000
    spaced = measure(redis_url, 10, True, tmp_path, gap_s=0.01, countdown=0.05)
    assert (spaced["tasks"], spaced["gap_ms"], spaced["countdown_s"]) == (10, 10.0, 0.05)
    assert 0 < spaced["worker_ms_per_task"] < 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "worker-events-0-sent-0-gap-0-countdown-0.log",
        "worker-events-1-sent-0-gap-0-countdown-0.log",
        "worker-events-1-sent-0-gap-0.01-countdown-0.05.log",
        "worker-events-1-sent-1-gap-0-countdown-0.log",
    ]
