"""Nightly batches: every manifest matching the nightly glob becomes one batch per night.

Beat's `kbatch.nightly` task and `kbatch nightly` (for system cron) both call `run_nightly`:

- a run's batch is named `<manifest name>-<YYYY-MM-DD>`, the night's date in the nightly time
  zone; a batch of that name existing already (a second trigger, a second host, a redelivered
  message) means nothing new is created;
- an earlier night's batch of the same manifest that has not ended (running, paused or
  cancelling) makes tonight's run skip, or with `on_overlap: queue` creates tonight's batch held
  (paused) behind it; `release_held` starts a held batch once no earlier night is left;
- jobs whose key an earlier batch stored are left out unless the manifest says `rerender: true`,
  and the batch's options record how many and which.

Every decision is logged with its reason and returned as a `NightlyRun`.
"""

from __future__ import annotations

import glob
import logging
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from jobs.ledger import BatchRecord, EventRecord, Ledger, LedgerConflict, LedgerNotFound
from jobs.ledger.states import BatchState, JobState
from jobs.manifest import Manifest, ManifestError, load_manifest
from jobs.manifest.loader import YAML_SUFFIXES
from worker.batches import record_batch, resume_batch, submit_manifest
from worker.beat import NIGHTLY_RELEASE_TASK, NIGHTLY_TASK
from worker.celery_app import app
from worker.context import Context
from worker.names import Queue
from worker.settings import NightlySettings
from worker.tasks import context

log = logging.getLogger(__name__)

Overlap = Literal["skip", "queue"]

# A batch in one of these states has not ended: a later night of its manifest waits for it.
UNENDED = (BatchState.RUNNING, BatchState.PAUSED, BatchState.CANCELLING)
HOLD_NOTE = "nightly: held behind "
# While a batch is held, whether it may start is checked this often.
RELEASE_RECHECK_S = 60.0
# The batch options list at most this many left-out keys (the count is always exact).
MAX_LISTED_KEYS = 1000


class Action(StrEnum):
    CREATED = "created"
    HELD = "held"  # created, paused until the earlier nights of its manifest have ended
    RELEASED = "released"  # a held batch started
    EXISTS = "exists"
    SKIPPED = "skipped"
    INVALID = "invalid"
    PLANNED = "planned"  # a dry run: what would be created


@dataclass(frozen=True, slots=True)
class NightlyRun:
    """What one nightly run did with one manifest, and why."""

    manifest: str
    action: Action
    reason: str
    batch: str | None = None
    jobs: int = 0
    left_out: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "action": self.action.value}


def night_of(now: datetime, timezone: str) -> date:
    """The night a run at `now` belongs to: the date in the nightly time zone."""
    if now.tzinfo is None:
        raise ValueError("a nightly run needs an aware datetime")
    return now.astimezone(ZoneInfo(timezone)).date()


def batch_name(manifest_name: str, night: date) -> str:
    return f"{manifest_name}-{night.isoformat()}"


def manifest_files(pattern: str) -> list[Path]:
    """The manifests a glob names, sorted; a CSV's YAML sidecar stands for the CSV."""
    found: list[Path] = []
    for match in sorted(glob.glob(pattern, recursive=True)):
        path = Path(match)
        if not path.is_file():
            continue
        # `*.yaml` matches a CSV manifest's sidecar, but the manifest is the CSV.
        if path.suffix.lower() in YAML_SUFFIXES and path.with_suffix(".csv").is_file():
            path = path.with_suffix(".csv")
        if path not in found:
            found.append(path)
    return found


def nightly_info(batch: BatchRecord) -> dict[str, Any] | None:
    info = batch.options.get("nightly")
    return info if isinstance(info, dict) else None


def earlier_unended(
    ledger: Ledger, manifest_name: str, night: date, *, exclude: int | None = None
) -> list[BatchRecord]:
    """Nightly batches of this manifest from earlier nights that have not ended, newest first."""
    found = []
    for batch in ledger.batches(states=UNENDED):
        info = nightly_info(batch)
        if (
            info is not None
            and batch.id != exclude
            and info.get("manifest") == manifest_name
            and str(info.get("night", "")) < night.isoformat()
        ):
            found.append(batch)
    return found


def leave_out_stored(ledger: Ledger, manifest: Manifest) -> tuple[Manifest, list[str]]:
    """The manifest without the jobs whose key is stored already (all of them on `rerender`)."""
    if manifest.rerender or not manifest.jobs:
        return manifest, []
    stored = ledger.stored_keys([job.key for job in manifest.jobs])
    if not stored:
        return manifest, []
    kept = [job for job in manifest.jobs if job.key not in stored]
    left_out = [job.key for job in manifest.jobs if job.key in stored]
    return replace(manifest, jobs=kept), left_out


def run_nightly(
    ctx: Context,
    nightly: NightlySettings,
    now: datetime | None = None,
    *,
    night: date | None = None,
    pattern: str | None = None,
    dry_run: bool = False,
) -> list[NightlyRun]:
    """Start tonight's batch of every nightly manifest (after releasing held batches that may go).

    `night` defaults to the date of `now` (default: the context's clock) in the nightly time zone.
    """
    if night is None:
        moment = now if now is not None else datetime.fromtimestamp(ctx.now(), UTC)
        night = night_of(moment, nightly.timezone)
    runs = [] if dry_run else release_held(ctx)
    pattern = pattern or nightly.manifests
    files = manifest_files(pattern)
    if not files:
        log.warning("nightly: no manifest matches %s", pattern, extra={"night": str(night)})
    names: dict[str, Path] = {}
    for path in files:
        run = run_manifest(
            ctx, path, night, on_overlap=nightly.on_overlap, dry_run=dry_run, names=names
        )
        runs.append(_logged(run, night))
    return runs


def run_manifest(
    ctx: Context,
    path: Path,
    night: date,
    *,
    on_overlap: Overlap,
    dry_run: bool = False,
    names: dict[str, Path] | None = None,
) -> NightlyRun:
    """Tonight's batch of one manifest, by the rules in the module docstring."""
    try:
        manifest = load_manifest(path)
    except ManifestError as exc:
        first = exc.issues[0] if exc.issues else "unreadable"
        reason = f"{len(exc.issues)} problem(s), the first: {first}"
        return NightlyRun(str(path), Action.INVALID, reason)
    names = {} if names is None else names
    if manifest.name in names:  # both would make the same batch name
        reason = f"{names[manifest.name]} has the same manifest name {manifest.name!r}"
        return NightlyRun(str(path), Action.INVALID, reason)
    names[manifest.name] = path
    name = batch_name(manifest.name, night)
    existing = _batch_or_none(ctx.ledger, name)
    if existing is not None:
        return NightlyRun(str(path), Action.EXISTS, "this night's batch exists already", name)

    earlier = earlier_unended(ctx.ledger, manifest.name, night)
    if earlier and on_overlap == "skip":
        reason = f"{earlier[0].name} is still {earlier[0].state.value} (on_overlap: skip)"
        return NightlyRun(str(path), Action.SKIPPED, reason, name)

    kept, left_out = leave_out_stored(ctx.ledger, manifest)
    blocker = earlier[0].name if earlier and kept.jobs else None
    info: dict[str, Any] = {
        "manifest": manifest.name,
        "night": night.isoformat(),
        "rerender": manifest.rerender,
        "left_out_stored": len(left_out),
        "left_out_keys": left_out[:MAX_LISTED_KEYS],
    }
    if blocker is not None:
        info["held_behind"] = blocker
    why = _why(len(kept.jobs), len(left_out), blocker)
    if dry_run:
        return NightlyRun(str(path), Action.PLANNED, why, name, len(kept.jobs), len(left_out))
    try:
        if blocker is not None:
            _create_held(ctx, kept, name, {"nightly": info}, blocker)
        else:
            submit_manifest(ctx, kept, name=name, options={"nightly": info})
    except LedgerConflict:
        return NightlyRun(str(path), Action.EXISTS, "another run created this night's batch", name)
    action = Action.HELD if blocker is not None else Action.CREATED
    return NightlyRun(str(path), action, why, name, len(kept.jobs), len(left_out))


def _why(jobs: int, left_out: int, blocker: str | None) -> str:
    text = f"{jobs} jobs"
    if left_out:
        text += f", {left_out} left out (stored by an earlier batch)"
    if blocker is not None:
        text += f"; waits for {blocker} to end (on_overlap: queue)"
    return text


def _create_held(
    ctx: Context, manifest: Manifest, name: str, options: dict[str, Any], blocker: str
) -> BatchRecord:
    """Record the batch with its jobs paused: nothing of it reaches the wait list until released."""
    estimates = [ctx.prices.credits(job.spec) for job in manifest.jobs]
    batch = record_batch(ctx, manifest, name, estimates, options=options)
    ctx.ledger.set_batch_state(batch.id, BatchState.RUNNING, BatchState.PAUSED)
    ids = ctx.ledger.job_ids(batch.id, [JobState.PENDING])
    for job_id in ids:
        ctx.ledger.transition(job_id, JobState.PENDING, JobState.PAUSED, detail=HOLD_NOTE + blocker)
    # The sweep re-queues pending jobs of running batches: one may have slipped in before the pause.
    ctx.waitlist.remove_many(ids)
    return batch


def held_batches(ledger: Ledger) -> list[BatchRecord]:
    """Nightly batches still held behind an earlier night, oldest first.

    A held batch is paused with paused jobs whose last event is the hold; once released, a batch
    paused again (out of credits, say) is no longer held and waits for `kbatch resume`.
    """
    held = []
    for batch in ledger.batches(states=[BatchState.PAUSED]):
        info = nightly_info(batch)
        if info is None or "held_behind" not in info:
            continue
        paused = ledger.jobs(batch.id, [JobState.PAUSED], limit=1)
        if paused and _is_hold(ledger.events(paused[0].id)):
            held.append((str(info.get("night")), batch.id, batch))
    return [batch for *_, batch in sorted(held)]


def _is_hold(events: list[EventRecord]) -> bool:
    if not events or events[-1].to_state is not JobState.PAUSED:
        return False
    message = (events[-1].detail or {}).get("message", "")
    return isinstance(message, str) and message.startswith(HOLD_NOTE)


def release_held(ctx: Context) -> list[NightlyRun]:
    """Start every held batch whose earlier nights have all ended, oldest night first.

    Keys stored meanwhile (most often by the batch it waited for) are cancelled, not rendered
    again, unless the manifest said `rerender: true`.
    """
    runs = []
    for batch in held_batches(ctx.ledger):
        info = nightly_info(batch) or {}
        night = date.fromisoformat(str(info.get("night")))
        manifest = str(info.get("manifest"))
        waiting_for = earlier_unended(ctx.ledger, manifest, night, exclude=batch.id)
        if waiting_for:
            log.info("nightly: %s still waits for %s", batch.name, waiting_for[0].name)
            continue
        left_out = 0 if info.get("rerender") else _cancel_stored(ctx, batch)
        resumed = resume_batch(ctx, ctx.ledger.batch(batch.id))
        reason = f"{info.get('held_behind')} has ended; {resumed.waiting} jobs queued"
        if left_out:
            reason += f", {left_out} left out (stored meanwhile)"
        run = NightlyRun(
            batch.manifest or "",
            Action.RELEASED,
            reason,
            batch.name,
            jobs=resumed.waiting,
            left_out=left_out,
        )
        runs.append(_logged(run, night))
    return runs


def _cancel_stored(ctx: Context, batch: BatchRecord) -> int:
    paused = ctx.ledger.jobs(batch.id, [JobState.PAUSED])
    stored = ctx.ledger.stored_keys([job.key for job in paused])
    cancelled = 0
    for job in paused:
        if job.key in stored:
            cancelled += ctx.ledger.transition(
                job.id,
                JobState.PAUSED,
                JobState.CANCELLED,
                detail="nightly: stored meanwhile by an earlier batch",
            )
    return cancelled


def _batch_or_none(ledger: Ledger, name: str) -> BatchRecord | None:
    try:
        return ledger.batch(name)
    except LedgerNotFound:
        return None


_LEVELS = {Action.INVALID: logging.ERROR, Action.SKIPPED: logging.WARNING}


def _logged(run: NightlyRun, night: date) -> NightlyRun:
    extra = {"manifest": run.manifest, "night": night.isoformat(), "action": run.action.value}
    if run.batch is not None:
        extra["batch"] = run.batch
    level = _LEVELS.get(run.action, logging.INFO)
    subject = run.batch or run.manifest
    log.log(level, "nightly %s: %s: %s", run.action.value, subject, run.reason, extra=extra)
    return run


# Celery: beat sends `kbatch.nightly`; while a batch is held, `kbatch.nightly_release` checks
# every RELEASE_RECHECK_S whether it may start (a countdown message, never a sleeping worker).


def release_mark(ctx: Context) -> str:
    return f"{ctx.prefix}scheduled:nightly-release"


def schedule_release(ctx: Context, delay: float = RELEASE_RECHECK_S) -> bool:
    """Send one release check after `delay` unless one is already on its way."""
    if not ctx.redis.set(release_mark(ctx), "1", nx=True, px=int(delay * 2000)):
        return False
    app.send_task(NIGHTLY_RELEASE_TASK, countdown=delay, queue=Queue.CONTROL.value)
    return True


@app.task(name=NIGHTLY_TASK)
def nightly_task() -> list[dict[str, Any]]:
    ctx = context()
    runs = run_nightly(ctx, ctx.settings.nightly)
    if held_batches(ctx.ledger):
        schedule_release(ctx)
    return [run.as_dict() for run in runs]


@app.task(name=NIGHTLY_RELEASE_TASK)
def nightly_release_task() -> list[dict[str, Any]]:
    ctx = context()
    ctx.redis.delete(release_mark(ctx))  # this is the check that was scheduled
    runs = release_held(ctx)
    if held_batches(ctx.ledger):
        schedule_release(ctx)
    return [run.as_dict() for run in runs]
