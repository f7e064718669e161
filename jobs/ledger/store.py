"""The results ledger: batches, jobs and their event log, moved by compare-and-set transitions.

Every method is one short transaction on its own connection, so one `Ledger` may be shared by
the threads of a process, and any number of processes on any number of hosts may use the same
database at once. A transition is a single `UPDATE ... WHERE id = :id AND state IN (:expected)`
followed by the INSERT of its event in the same transaction: of two workers racing on a job,
exactly one changes it and logs it, and the other learns it lost from the return value.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice
from typing import Any, Literal, NamedTuple, Self

from pydantic_core import to_jsonable_python
from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    RowMapping,
    String,
    Update,
    bindparam,
    cast,
    func,
    insert,
    null,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from jobs.ledger import budget, reports
from jobs.ledger.columns import UTCDateTime
from jobs.ledger.database import DEFAULT_URL, Writer, create_ledger_engine, reader
from jobs.ledger.errors import BatchNameTaken, LedgerNotFound
from jobs.ledger.fields import (
    ATTEMPT_RESET,
    RETRY_FROM,
    TRANSITION_FIELDS,
    UPDATE_FIELDS,
    check_fields,
    event_detail,
    new_job_values,
    refuse_duplicate_keys,
    require_aware,
)
from jobs.ledger.models import BATCHES, EVENTS, JOBS
from jobs.ledger.records import (
    BatchRecord,
    CreditRow,
    EventRecord,
    JobName,
    JobRecord,
    Totals,
    WatchedJob,
)
from jobs.ledger.schema import ensure_current, upgrade
from jobs.ledger.states import (
    FINAL_STATES,
    IN_FLIGHT_STATES,
    RENDERING_STATES,
    BatchState,
    IllegalTransition,
    JobState,
    check_transition,
)
from jobs.spec import Job

Clock = Callable[[], datetime]

_BATCH_DONE = frozenset({BatchState.FINISHED, BatchState.CANCELLED})
_KIND_MAX = 32
_IN_CHUNK = 500  # values per IN (...) list
_INSERT_CHUNK = 5000  # rows per executemany when creating a batch

_INSERT_EVENT = insert(EVENTS)
# The reads every step makes, built once with bound parameters: building a statement and its
# cache key on each call cost as much as running it.
_JOB_BY_ID = select(JOBS).where(JOBS.c.id == bindparam("p_id"))
_BATCH_BY_ID = select(BATCHES).where(BATCHES.c.id == bindparam("p_id"))
_BATCH_PREFIX = "batch__"
_JOB_AND_BATCH = (
    select(JOBS, *(c.label(_BATCH_PREFIX + c.name) for c in BATCHES.c))
    .join_from(JOBS, BATCHES, JOBS.c.batch_id == BATCHES.c.id)
    .where(JOBS.c.id == bindparam("p_id"))
)
_NAMES = (
    select(JOBS.c.id, JOBS.c.batch_id, JOBS.c.key)
    .where(JOBS.c.id.in_(bindparam("p_ids", expanding=True)))
    .order_by(JOBS.c.id)
)
_HAS_UNFINISHED = select(
    select(JOBS.c.id)
    .where(
        JOBS.c.batch_id == bindparam("p_batch_id"),
        JOBS.c.state.in_([s for s in JobState if s not in FINAL_STATES]),
    )
    .limit(1)
    .exists()
)
_IN_FLIGHT = select(JOBS).where(JOBS.c.state.in_(list(IN_FLIGHT_STATES))).order_by(JOBS.c.id)
_WATCHED = (
    select(
        JOBS.c.id,
        JOBS.c.batch_id,
        JOBS.c.key,
        JOBS.c.state,
        JOBS.c.spec,
        JOBS.c.provider_task_id,
        JOBS.c.submitted_at,
        JOBS.c.reserved_credits,
    )
    .where(JOBS.c.state.in_(list(RENDERING_STATES)), JOBS.c.provider_task_id.is_not(None))
    .order_by(JOBS.c.id)
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Ledger:
    """The results ledger on one database; see the module docstring."""

    def __init__(self, engine: Engine, *, clock: Clock = utcnow) -> None:
        self._engine = engine
        self._reader = reader(engine)
        self._writer = Writer(engine)
        self._clock = clock
        self._dialect = engine.dialect.name

    @classmethod
    def open(cls, url: str = DEFAULT_URL, *, clock: Clock = utcnow, upgrade: bool = True) -> Self:
        """Connect to `url` and bring an empty or older database up to the current schema."""
        engine = create_ledger_engine(url)
        try:
            if upgrade:
                ensure_current(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, clock=clock)

    @property
    def url(self) -> str:
        """The database URL with its password masked."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        return self._engine

    def upgrade(self) -> None:
        """Migrate the database to the current schema (a no-op when it is there already)."""
        upgrade(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self.url!r})"

    # Batches

    def create_batch(
        self,
        name: str,
        jobs: Sequence[Job],
        estimates: Sequence[Decimal],
        *,
        manifest: str | None,
        dialect: str = "kling",
        budget_credits: Decimal | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> BatchRecord:
        """Record a running batch and all its jobs (pending, attempt 1) in one transaction."""
        if len(jobs) != len(estimates):
            raise ValueError(f"{len(jobs)} jobs but {len(estimates)} credit estimates")
        refuse_duplicate_keys(jobs)
        now = self._clock()
        values: dict[str, Any] = {
            "name": name,
            "token": secrets.token_hex(4),
            "state": BatchState.RUNNING,
            "manifest": manifest,
            "dialect": dialect,
            "budget_credits": budget_credits,
            "committed_credits": Decimal(0),
            "job_count": len(jobs),
            "options": to_jsonable_python(dict(options or {})),
            "created_at": now,
            "updated_at": now,
            "finished_at": None,
        }
        try:
            with self._writer.begin() as conn:
                stmt = insert(BATCHES).values(values).returning(BATCHES.c.id)
                batch_id = int(conn.execute(stmt).scalar_one())
                rows = (
                    new_job_values(batch_id, values["token"], job, estimate, now)
                    for job, estimate in zip(jobs, estimates, strict=True)
                )
                for chunk in _chunks(rows, _INSERT_CHUNK):
                    conn.execute(insert(JOBS), chunk)
        except IntegrityError as exc:
            if self._batch_exists(name):
                raise BatchNameTaken(f"a batch named {name!r} already exists") from exc
            raise
        return BatchRecord(id=batch_id, **values)

    def batch(self, id_or_name: int | str) -> BatchRecord:
        if isinstance(id_or_name, int):
            row = self._first(_BATCH_BY_ID, {"p_id": id_or_name})
        else:
            row = self._first(select(BATCHES).where(BATCHES.c.name == id_or_name))
        if row is None:
            raise LedgerNotFound(f"no batch {id_or_name!r}")
        return BatchRecord.of(row)

    def batches(
        self, limit: int | None = None, states: Collection[BatchState] | None = None
    ) -> list[BatchRecord]:
        """Batches, newest first; all of them unless `limit` says otherwise."""
        stmt = select(BATCHES).order_by(BATCHES.c.id.desc()).limit(limit)
        if states is not None:
            stmt = stmt.where(BATCHES.c.state.in_(list(states)))
        return [BatchRecord.of(row) for row in self._all(stmt)]

    def set_batch_state(
        self,
        batch_id: int,
        expected: BatchState | Collection[BatchState],
        target: BatchState,
    ) -> bool:
        """Compare-and-set the batch's state; False if it was not in `expected`."""
        allowed = [expected] if isinstance(expected, BatchState) else list(expected)
        now = self._clock()
        stmt = (
            update(BATCHES)
            .where(BATCHES.c.id == batch_id, BATCHES.c.state.in_(allowed))
            .values(
                state=target,
                updated_at=now,
                finished_at=now if target in _BATCH_DONE else None,
            )
        )
        with self._writer.begin() as conn:
            won = conn.execute(stmt).rowcount == 1
        if not won:
            self.batch(batch_id)  # raises LedgerNotFound for a wrong id
        return won

    # Jobs

    def job(self, job_id: int) -> JobRecord:
        row = self._first(_JOB_BY_ID, {"p_id": job_id})
        if row is None:
            raise LedgerNotFound(f"no job {job_id}")
        return JobRecord.of(row)

    def job_and_batch(self, job_id: int) -> tuple[JobRecord, BatchRecord]:
        """The job and its batch in one read: what the submit and store steps start from."""
        row = self._first(_JOB_AND_BATCH, {"p_id": job_id})
        if row is None:
            raise LedgerNotFound(f"no job {job_id}")
        return JobRecord.of(row), BatchRecord.of(row, prefix=_BATCH_PREFIX)

    def job_by_external_id(self, external_id: str) -> JobRecord | None:
        row = self._first(select(JOBS).where(JOBS.c.external_id == external_id))
        return None if row is None else JobRecord.of(row)

    def job_by_task_id(self, provider_task_id: str) -> JobRecord | None:
        """The job whose current attempt is this provider task (a callback names only that)."""
        stmt = select(JOBS).where(JOBS.c.provider_task_id == provider_task_id)
        row = self._first(stmt.order_by(JOBS.c.id.desc()))
        return None if row is None else JobRecord.of(row)

    def jobs(
        self,
        batch_id: int,
        states: Collection[JobState] | None = None,
        *,
        limit: int | None = None,
        after_id: int | None = None,
    ) -> list[JobRecord]:
        """The batch's jobs in id order; `after_id` pages through a large batch."""
        stmt = select(JOBS).where(JOBS.c.batch_id == batch_id).order_by(JOBS.c.id).limit(limit)
        if states is not None:
            stmt = stmt.where(JOBS.c.state.in_(list(states)))
        if after_id is not None:
            stmt = stmt.where(JOBS.c.id > after_id)
        return [JobRecord.of(row) for row in self._all(stmt)]

    def names(self, job_ids: Collection[int]) -> list[JobName]:
        """Id, batch and key of each job, in id order: what a task message carries, read
        without the rest of the row (dispatch names every job it admits)."""
        if not job_ids:
            return []
        with self._reader.connect() as conn:
            rows = conn.execute(_NAMES, {"p_ids": list(job_ids)})
            return [JobName(row.id, row.batch_id, row.key) for row in rows]

    def job_ids(self, batch_id: int, states: Collection[JobState] | None = None) -> list[int]:
        stmt = select(JOBS.c.id).where(JOBS.c.batch_id == batch_id).order_by(JOBS.c.id)
        if states is not None:
            stmt = stmt.where(JOBS.c.state.in_(list(states)))
        with self._reader.connect() as conn:
            return list(conn.execute(stmt).scalars())

    def transition(
        self,
        job_id: int,
        expected: JobState | Collection[JobState],
        target: JobState,
        *,
        detail: str | None = None,
        **fields: Any,
    ) -> bool:
        """Move the job to `target` if it is in `expected`; True if this call moved it.

        `fields` (see TRANSITION_FIELDS) are set in the same UPDATE. Entering a final state sets
        `finished_at`, entering SUBMITTED sets `submitted_at`, unless given. Leaving FAILED or
        SKIPPED_BUDGET for PENDING starts a new attempt, exactly like `new_attempt`.
        """
        return self.transition_many([Move(job_id, expected, target, detail, fields)])[0]

    def transition_many(self, moves: Sequence[Move]) -> list[bool]:
        """Several `transition`s in one database transaction, one commit for all: what a look
        that saw many renders end writes. Each move is its own compare-and-set; the result says,
        move by move, whether this call made it."""
        if not moves:
            return []
        prepared = [self._prepare(m) for m in moves]
        with self._writer.begin() as conn:
            moved = [_move(conn, m.job_id, *rest) for m, rest in zip(moves, prepared, strict=True)]
        for move, done in zip(moves, moved, strict=True):
            if not done:
                self.job(move.job_id)  # raises LedgerNotFound for a wrong id
        return moved

    def _prepare(
        self, move: Move
    ) -> tuple[frozenset[JobState], dict[str, Any], bool, datetime, dict[str, Any] | None]:
        """The allowed states, the values the UPDATE sets, whether it is a retry, the event's
        time and detail."""
        _, expected, target, detail, fields = move
        allowed = _job_states(expected)
        for state in allowed:
            check_transition(state, target)
        check_fields(fields, TRANSITION_FIELDS)
        now = self._clock()
        values: dict[str, Any] = {"state": target, "updated_at": now}
        retry = target is JobState.PENDING and bool(allowed & RETRY_FROM)
        if retry:
            if not allowed <= RETRY_FROM:
                raise IllegalTransition(
                    "a retry from a final state cannot share one transition with other states"
                )
            values |= ATTEMPT_RESET
        elif target in FINAL_STATES:
            values["finished_at"] = now
        elif target is JobState.SUBMITTED:
            values["submitted_at"] = now
        values |= fields
        return allowed, values, retry, now, event_detail(detail, fields)

    def new_attempt(self, job_id: int, *, detail: str | None = None) -> bool:
        """Send a FAILED or SKIPPED_BUDGET job back to PENDING as attempt + 1.

        The new attempt gets a new external id (the provider refuses to reuse one) and loses
        the previous attempt's provider task, result, error and charges; the events keep them.
        """
        return self.transition(job_id, RETRY_FROM, JobState.PENDING, detail=detail)

    # Budgets

    def reserve_credits(
        self, job_id: int, amount: Decimal, *, daily_cap: Decimal | None = None
    ) -> bool:
        """Reserve the job's credits under its batch budget and the daily cap (see `budget`)."""
        return budget.reserve(
            self._writer, job_id, amount, day=self._clock().date(), daily_cap=daily_cap
        )

    def settle_credits(self, job_id: int) -> Decimal:
        """Replace the job's reservation by what it was charged (exactly once)."""
        return budget.settle(self._writer, job_id)

    def committed_today(self) -> Decimal:
        with self._reader.connect() as conn:
            return budget.committed_on(conn, self._clock().date())

    def update(self, job_id: int, **fields: Any) -> None:
        """Set bookkeeping fields (see UPDATE_FIELDS) without a state change or an event."""
        check_fields(fields, UPDATE_FIELDS)
        if not fields:
            return
        stmt = update(JOBS).where(JOBS.c.id == job_id).values(updated_at=self._clock(), **fields)
        with self._writer.begin() as conn:
            found = conn.execute(stmt).rowcount == 1
        if not found:
            raise LedgerNotFound(f"no job {job_id}")

    def record_event(
        self, job_id: int, kind: str, detail: Mapping[str, Any] | str | None = None
    ) -> None:
        """Append a note about the job (a poll answer, a lookup) to its event log."""
        if not kind or len(kind) > _KIND_MAX:
            raise ValueError(f"an event kind has 1 to {_KIND_MAX} characters: {kind!r}")
        source = select(
            JOBS.c.id,
            bindparam("at", self._clock(), type_=UTCDateTime()),
            bindparam("kind", kind, type_=String()),
            null(),
            null(),
            JOBS.c.attempt,
            bindparam("detail", event_detail(detail), type_=JSON(none_as_null=True)),
        ).where(JOBS.c.id == job_id)
        columns = ["job_id", "at", "kind", "from_state", "to_state", "attempt", "detail"]
        with self._writer.begin() as conn:
            stmt = insert(EVENTS).from_select(columns, source)
            # An INSERT's rowcount is only kept when asked for.
            result = conn.execute(stmt.execution_options(preserve_rowcount=True))
            found = result.rowcount == 1
        if not found:
            raise LedgerNotFound(f"no job {job_id}")

    def events(self, job_id: int) -> list[EventRecord]:
        """The job's log, oldest first."""
        stmt = select(EVENTS).where(EVENTS.c.job_id == job_id).order_by(EVENTS.c.id)
        return [EventRecord.of(row) for row in self._all(stmt)]

    # Reports

    def counts(self, batch_id: int) -> dict[JobState, int]:
        """Jobs per state (every state present)."""
        with self._reader.connect() as conn:
            return reports.counts(conn.execute(reports.counts_query(batch_id)).all())

    def totals(self, batch_id: int) -> Totals:
        with self._reader.connect() as conn:
            row = conn.execute(reports.totals_query(batch_id, self._dialect)).one()
        return reports.totals(row, self._dialect)

    def unfinished(self, batch_id: int) -> int:
        """How many of the batch's jobs are not in a final state."""
        stmt = (
            select(func.count())
            .select_from(JOBS)
            .where(JOBS.c.batch_id == batch_id, JOBS.c.state.not_in(list(FINAL_STATES)))
        )
        with self._reader.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def has_unfinished(self, batch_id: int) -> bool:
        """Whether any of the batch's jobs is not final: an indexed probe, however large the
        batch (the store step asks after every job)."""
        with self._reader.connect() as conn:
            return bool(conn.execute(_HAS_UNFINISHED, {"p_batch_id": batch_id}).scalar_one())

    def in_flight(self, dialect: str | None = None) -> list[JobRecord]:
        """Jobs that hold (or may hold) a provider slot, in every batch (slot reconciliation)."""
        stmt = _IN_FLIGHT
        if dialect is not None:
            stmt = stmt.join(BATCHES, JOBS.c.batch_id == BATCHES.c.id).where(
                BATCHES.c.dialect == dialect
            )
        return [JobRecord.of(row) for row in self._all(stmt)]

    def watched(self) -> list[WatchedJob]:
        """Jobs whose render the provider has (submitted or processing, with a task id), in
        every batch, with only what a look acts on: half the CPU of reading them whole."""
        with self._reader.connect() as conn:
            return [WatchedJob.of(row) for row in conn.execute(_WATCHED)]

    def stored_keys(self, keys: Collection[str]) -> set[str]:
        """Which of `keys` reached STORED in any batch (a nightly run skips those)."""
        found: set[str] = set()
        with self._reader.connect() as conn:
            for chunk in _chunks(iter(set(keys)), _IN_CHUNK):
                stmt = (
                    select(JOBS.c.key)
                    .where(JOBS.c.key.in_(chunk), JOBS.c.state == JobState.STORED)
                    .distinct()
                )
                found.update(conn.execute(stmt).scalars())
        return found

    def credits(
        self,
        since: datetime | None = None,
        by: Literal["model", "day", "batch"] = "model",
    ) -> list[CreditRow]:
        """Spend of the jobs that finished (stored or failed) since `since`, grouped `by`."""
        require_aware("since", since)
        with self._reader.connect() as conn:
            rows = conn.execute(reports.credits_query(since, by, self._dialect)).all()
        return reports.credit_rows(rows, self._dialect)

    # Internals

    def _batch_exists(self, name: str) -> bool:
        return self._first(select(BATCHES.c.id).where(BATCHES.c.name == name)) is not None

    def _first(self, stmt: Any, params: Mapping[str, Any] | None = None) -> RowMapping | None:
        with self._reader.connect() as conn:
            return conn.execute(stmt, params).mappings().first()

    def _all(self, stmt: Any) -> list[RowMapping]:
        with self._reader.connect() as conn:
            return list(conn.execute(stmt).mappings())


class Move(NamedTuple):
    """One transition for `Ledger.transition_many`: the arguments of `Ledger.transition`."""

    job_id: int
    expected: JobState | Collection[JobState]
    target: JobState
    detail: str | None = None
    fields: Mapping[str, Any] = {}


def _move(
    conn: Connection,
    job_id: int,
    allowed: frozenset[JobState],
    values: dict[str, Any],
    retry: bool,
    now: datetime,
    detail: dict[str, Any] | None,
) -> bool:
    """One compare-and-set UPDATE and its event, inside the caller's transaction."""
    params = {f"v_{name}": value for name, value in values.items()}
    params["p_job_id"] = job_id
    one_state = len(allowed) == 1
    if one_state:
        (params["p_state"],) = allowed
    else:
        params["p_allowed"] = list(allowed)
    stmt = _update_statement(tuple(sorted(values)), retry, one_state)
    row = conn.execute(stmt, params).one_or_none()
    if row is None:
        return False
    if retry:
        detail = {**(detail or {}), "external_id": row.external_id}
    event = {
        "job_id": job_id,
        "at": now,
        "kind": "retry" if retry else "transition",
        "from_state": row.previous_state,
        "to_state": row.state,
        "attempt": row.attempt,
        "detail": detail,
    }
    conn.execute(_INSERT_EVENT, event)
    return True


@functools.cache
def _update_statement(columns: tuple[str, ...], retry: bool, one_state: bool) -> Update:
    """The compare-and-set UPDATE that sets `columns`, built once per set of columns.

    Built with bound parameters and kept: building the statement and its cache key on every
    transition cost about a third of a transition's CPU (a job makes five). The set of columns
    a step sets is one of a few dozen, so the cache stays small. Most moves expect one state:
    theirs compare with `=`, since an expanding `IN` is rewritten at every execution.
    """
    values: dict[str, Any] = {
        name: bindparam(f"v_{name}", type_=JOBS.c[name].type) for name in columns
    }
    # Right-hand sides see the row before the UPDATE, so this keeps the state we left.
    values["previous_state"] = JOBS.c.state
    if retry:
        next_attempt = JOBS.c.attempt + 1
        token = select(BATCHES.c.token).where(BATCHES.c.id == JOBS.c.batch_id)
        values["attempt"] = next_attempt
        values["external_id"] = (
            JOBS.c.key + "-" + token.scalar_subquery() + "-" + cast(next_attempt, String)
        )
    return (
        update(JOBS)
        .where(
            JOBS.c.id == bindparam("p_job_id"),
            JOBS.c.state == bindparam("p_state", type_=JOBS.c.state.type)
            if one_state
            else JOBS.c.state.in_(bindparam("p_allowed", expanding=True)),
        )
        .values(values)
        .returning(JOBS.c.previous_state, JOBS.c.state, JOBS.c.attempt, JOBS.c.external_id)
    )


def _job_states(expected: JobState | Collection[JobState]) -> frozenset[JobState]:
    states = frozenset([expected] if isinstance(expected, JobState) else expected)
    if not states:
        raise ValueError("a transition needs at least one expected state")
    return states


def _chunks(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(islice(rows, size)):
        yield chunk
