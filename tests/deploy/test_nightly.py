"""The nightly run with a frozen clock, on real Redis and PostgreSQL: naming, once per night,
overlap (skip, or held behind the earlier night and released after it), stored keys left out."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from jobs.ledger.states import BatchState, JobState
from tests.deploy.conftest import MakeNightly, Nightly, fail, store, write_manifest
from worker.nightly import (
    Action,
    NightlyRun,
    held_batches,
    manifest_files,
    night_of,
    release_held,
    run_nightly,
)
from worker.pipeline.finish import finish_if_done, pause_batch

# 01:30 UTC on 2 March is 02:30 in Paris and still 1 March in New York.
NOW = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
NIGHT = "2026-03-02"
YESTERDAY = NOW - timedelta(days=1)


def run(n: Nightly, now: datetime = NOW, **kwargs: object) -> list[NightlyRun]:
    return run_nightly(n.ctx, n.ctx.settings.nightly, now, **kwargs)  # type: ignore[arg-type]


def by_action(runs: list[NightlyRun]) -> dict[Action, list[str]]:
    found: dict[Action, list[str]] = {}
    for r in runs:
        found.setdefault(r.action, []).append(r.batch or r.manifest)
    return found


def finish_all(n: Nightly, batch_name: str) -> None:
    batch = n.ledger.batch(batch_name)
    for job in n.ledger.jobs(batch.id, [JobState.PENDING]):
        store(n.ledger, job)
    assert finish_if_done(n.ctx, batch.id)


def test_the_night_is_the_date_in_the_nightly_time_zone() -> None:
    assert night_of(NOW, "Europe/Paris") == date(2026, 3, 2)
    assert night_of(NOW, "America/New_York") == date(2026, 3, 1)
    assert night_of(NOW, "UTC") == date(2026, 3, 2)
    with pytest.raises(ValueError, match="aware"):
        night_of(NOW.replace(tzinfo=None), "UTC")


def test_each_manifest_gets_a_batch_named_after_it_and_the_night(
    make_nightly: MakeNightly,
) -> None:
    n = make_nightly(timezone="Europe/Paris")
    write_manifest(n.folder, "clips.yaml", ["a", "b", "c"])
    write_manifest(n.folder, "promo.yaml", ["x"], name="spring-promo")

    runs = run(n)

    assert by_action(runs) == {Action.CREATED: [f"clips-{NIGHT}", f"spring-promo-{NIGHT}"]}
    clips = n.ledger.batch(f"clips-{NIGHT}")
    assert (clips.state, clips.job_count) == (BatchState.RUNNING, 3)
    assert clips.options["nightly"] == {
        "manifest": "clips",
        "night": NIGHT,
        "rerender": False,
        "left_out_stored": 0,
        "left_out_keys": [],
    }
    # Every job was queued: waiting for a slot, or already handed one (its submit sent).
    assert n.queued(clips.id) == set(n.ledger.job_ids(clips.id))
    # New York's night is still the 1st.
    other = make_nightly(timezone="America/New_York")
    assert by_action(run(other, dry_run=True))[Action.PLANNED] == [
        "clips-2026-03-01",
        "spring-promo-2026-03-01",
    ]


def test_a_second_trigger_for_the_same_night_creates_nothing(make_nightly: MakeNightly) -> None:
    n = make_nightly()
    write_manifest(n.folder, "clips.yaml", ["a", "b"])
    first = run(n)
    sent = len(n.recorder.sent)
    batches = n.ledger.batches()

    again = run(n, NOW + timedelta(hours=3))

    assert [r.action for r in first] == [Action.CREATED]
    assert [(r.action, r.batch) for r in again] == [(Action.EXISTS, f"clips-{NIGHT}")]
    assert again[0].reason == "this night's batch exists already"
    assert n.ledger.batches() == batches
    assert len(n.recorder.sent) == sent


def test_simultaneous_triggers_create_one_batch(make_nightly: MakeNightly) -> None:
    # Two hosts (or a retried message) run the same night at the same moment.
    contexts = [make_nightly(), make_nightly()]
    write_manifest(contexts[0].folder, "clips.yaml", ["a", "b", "c"])
    barrier = threading.Barrier(len(contexts))
    results: list[list[NightlyRun]] = []

    def trigger(n: Nightly) -> None:
        barrier.wait()
        results.append(run(n))

    threads = [threading.Thread(target=trigger, args=(n,)) for n in contexts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert sorted(r[0].action for r in results) == [Action.CREATED, Action.EXISTS]
    assert [b.name for b in contexts[0].ledger.batches()] == [f"clips-{NIGHT}"]


def test_the_next_night_gets_its_own_batch_once_the_last_has_ended(
    make_nightly: MakeNightly,
) -> None:
    n = make_nightly()
    write_manifest(n.folder, "clips.yaml", ["a"], rerender=True)
    run(n, YESTERDAY)
    finish_all(n, "clips-2026-03-01")

    runs = run(n)

    assert by_action(runs) == {Action.CREATED: [f"clips-{NIGHT}"]}
    assert n.ledger.batch(f"clips-{NIGHT}").job_count == 1  # rerender: true


def test_skip_when_the_previous_night_still_runs_and_say_why(
    make_nightly: MakeNightly, caplog: pytest.LogCaptureFixture
) -> None:
    n = make_nightly(on_overlap="skip")
    write_manifest(n.folder, "clips.yaml", ["a", "b"])
    run(n, YESTERDAY)

    with caplog.at_level(logging.INFO, logger="worker.nightly"):
        runs = run(n)

    assert [r.action for r in runs] == [Action.SKIPPED]
    assert "clips-2026-03-01 is still running" in runs[0].reason
    assert [b.name for b in n.ledger.batches()] == ["clips-2026-03-01"]
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1
    assert "clips-2026-03-01 is still running (on_overlap: skip)" in warned[0].getMessage()
    assert getattr(warned[0], "batch", None) == f"clips-{NIGHT}"


def test_queue_holds_the_night_behind_the_previous_one_then_releases_it(
    make_nightly: MakeNightly,
) -> None:
    n = make_nightly(on_overlap="queue")
    write_manifest(n.folder, "clips.yaml", ["a", "b", "c"])
    run(n, YESTERDAY)
    before = n.ledger.batch("clips-2026-03-01")
    a, b, c = n.ledger.jobs(before.id)
    store(n.ledger, a)  # stored before tonight's run: left out of tonight's batch

    runs = run(n)

    assert [r.action for r in runs] == [Action.HELD]
    assert "waits for clips-2026-03-01" in runs[0].reason
    held = n.ledger.batch(f"clips-{NIGHT}")
    assert held.state is BatchState.PAUSED
    assert held.options["nightly"]["held_behind"] == "clips-2026-03-01"
    assert held.options["nightly"]["left_out_keys"] == [a.key]
    tonight = n.ledger.jobs(held.id)
    assert [j.key for j in tonight] == [b.key, c.key]
    assert {j.state for j in tonight} == {JobState.PAUSED}
    assert n.queued(held.id) == set()
    assert release_held(n.ctx) == []  # last night has not ended

    store(n.ledger, b)  # b is stored by last night's batch after all, c fails
    fail(n.ledger, c)
    assert finish_if_done(n.ctx, before.id)
    released = release_held(n.ctx)

    assert [(r.action, r.batch, r.jobs, r.left_out) for r in released] == [
        (Action.RELEASED, f"clips-{NIGHT}", 1, 1)
    ]
    assert n.ledger.batch(held.id).state is BatchState.RUNNING
    states = {j.key: j.state for j in n.ledger.jobs(held.id)}
    assert states == {b.key: JobState.CANCELLED, c.key: JobState.PENDING}
    assert n.queued(held.id) == {j.id for j in n.ledger.jobs(held.id) if j.key == c.key}
    assert held_batches(n.ledger) == []


def test_held_nights_start_one_after_the_other(make_nightly: MakeNightly) -> None:
    n = make_nightly(on_overlap="queue")
    write_manifest(n.folder, "clips.yaml", ["a"], rerender=True)
    run(n, YESTERDAY - timedelta(days=1))  # 2026-02-28, running
    run(n, YESTERDAY)  # held behind it
    run(n)  # held behind the held one

    assert [b.name for b in held_batches(n.ledger)] == ["clips-2026-03-01", f"clips-{NIGHT}"]
    finish_all(n, "clips-2026-02-28")

    assert [r.batch for r in run(n, NOW + timedelta(hours=1))] == [
        "clips-2026-03-01",  # released by the next trigger's release pass
        f"clips-{NIGHT}",  # the night's own run: exists
    ]
    assert [b.name for b in held_batches(n.ledger)] == [f"clips-{NIGHT}"]
    finish_all(n, "clips-2026-03-01")
    assert [r.batch for r in release_held(n.ctx)] == [f"clips-{NIGHT}"]


def test_a_released_batch_paused_later_is_not_held_again(make_nightly: MakeNightly) -> None:
    n = make_nightly(on_overlap="queue")
    write_manifest(n.folder, "clips.yaml", ["a", "b"], rerender=True)
    run(n, YESTERDAY)
    run(n)
    finish_all(n, "clips-2026-03-01")
    assert len(release_held(n.ctx)) == 1
    tonight = n.ledger.batch(f"clips-{NIGHT}")

    pause_batch(n.ctx, tonight.id, "out of credits")  # what an account error does
    assert held_batches(n.ledger) == []
    # A pause that parks the jobs themselves leaves them paused, as the hold did.
    for job in n.ledger.jobs(tonight.id):
        assert n.ledger.transition(job.id, JobState.PENDING, JobState.PAUSED, detail="paused")

    assert held_batches(n.ledger) == []
    assert release_held(n.ctx) == []
    assert n.ledger.batch(tonight.id).state is BatchState.PAUSED


def test_keys_stored_by_an_earlier_batch_are_left_out_unless_rerender(
    make_nightly: MakeNightly,
) -> None:
    n = make_nightly()
    write_manifest(n.folder, "clips.yaml", ["a", "b", "c"])
    write_manifest(n.folder, "always.yaml", ["a", "b", "c"], rerender=True)
    run(n, YESTERDAY, pattern=str(n.folder / "clips.yaml"))
    yesterday = n.ledger.batch("clips-2026-03-01")
    a, b, c = n.ledger.jobs(yesterday.id)
    store(n.ledger, a)
    store(n.ledger, b)
    fail(n.ledger, c)  # failed keys are rendered again
    assert finish_if_done(n.ctx, yesterday.id)

    runs = {r.batch: r for r in run(n)}

    clips = n.ledger.batch(f"clips-{NIGHT}")
    assert (runs[clips.name].jobs, runs[clips.name].left_out) == (1, 2)
    assert [j.key for j in n.ledger.jobs(clips.id)] == [c.key]
    assert clips.options["nightly"]["left_out_stored"] == 2
    assert sorted(clips.options["nightly"]["left_out_keys"]) == sorted([a.key, b.key])
    # The same rows under `rerender: true` are all rendered again.
    always = n.ledger.batch(f"always-{NIGHT}")
    assert always.job_count == 3
    assert always.options["nightly"]["left_out_stored"] == 0


def test_a_night_with_every_key_stored_is_an_empty_finished_batch(
    make_nightly: MakeNightly,
) -> None:
    n = make_nightly()
    write_manifest(n.folder, "clips.yaml", ["a"])
    run(n, YESTERDAY)
    finish_all(n, "clips-2026-03-01")

    runs = run(n)

    assert [(r.action, r.jobs, r.left_out) for r in runs] == [(Action.CREATED, 0, 1)]
    tonight = n.ledger.batch(f"clips-{NIGHT}")
    assert (tonight.state, tonight.job_count) == (BatchState.FINISHED, 0)
    # ... and it still counts as tonight's run.
    assert [r.action for r in run(n)] == [Action.EXISTS]


def test_an_invalid_manifest_is_reported_and_the_others_still_run(
    make_nightly: MakeNightly, caplog: pytest.LogCaptureFixture
) -> None:
    n = make_nightly()
    write_manifest(n.folder, "a-good.yaml", ["a"])
    (n.folder / "b-bad.yaml").write_text("rows:\n  - prompt: x\n    modle: kling-v3\n")
    write_manifest(n.folder, "c-copy.yaml", ["z"], name="a-good")

    with caplog.at_level(logging.INFO, logger="worker.nightly"):
        runs = run(n)

    assert [r.action for r in runs] == [Action.CREATED, Action.INVALID, Action.INVALID]
    assert "modle" in runs[1].reason
    assert "same manifest name 'a-good'" in runs[2].reason
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert "b-bad.yaml" in errors[0]
    assert [b.name for b in n.ledger.batches()] == [f"a-good-{NIGHT}"]


def test_a_dry_run_creates_nothing(make_nightly: MakeNightly) -> None:
    n = make_nightly(on_overlap="queue")
    write_manifest(n.folder, "clips.yaml", ["a", "b"])
    run(n, YESTERDAY)
    sent = len(n.recorder.sent)

    runs = run(n, dry_run=True)

    assert [(r.action, r.batch, r.jobs) for r in runs] == [(Action.PLANNED, f"clips-{NIGHT}", 2)]
    assert "waits for clips-2026-03-01" in runs[0].reason
    assert [b.name for b in n.ledger.batches()] == ["clips-2026-03-01"]
    assert len(n.recorder.sent) == sent


def test_a_csv_manifest_is_found_through_its_yaml_sidecar(make_nightly: MakeNightly) -> None:
    n = make_nightly()
    (n.folder / "catalog.csv").write_text("id,prompt\nr1,a red kite over dunes\n")
    (n.folder / "catalog.yaml").write_text(
        "name: catalog\ndefaults:\n  model: kling-v3\n  resolution: 720p\n  duration: 5\n"
    )
    write_manifest(n.folder, "clips.yaml", ["a"])

    assert manifest_files(str(n.folder / "*.yaml")) == [
        n.folder / "catalog.csv",
        n.folder / "clips.yaml",
    ]
    assert by_action(run(n)) == {Action.CREATED: [f"catalog-{NIGHT}", f"clips-{NIGHT}"]}
