"""Job and batch states, and the transitions the ledger allows between them.

    pending ─► submitting ─► submitted ─► processing ─► downloading ─► stored
       │  ▲         │  │          │            │              │
       │  └─────────┘  └► review  └────────────┴──────────────┴─► failed
       ├─► paused ─► pending                                        │
       ├─► cancelled                                                └─► pending (retry)
       └─► skipped_budget

`submitting` means a create may be on the wire: only a lookup by external task id may decide what
happened. `review` is a create whose outcome cannot be known: a dialect without external ids, or
lookups that kept failing until the error retries ran out.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    PENDING = "pending"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    PROCESSING = "processing"
    DOWNLOADING = "downloading"
    STORED = "stored"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PAUSED = "paused"
    SKIPPED_BUDGET = "skipped_budget"
    REVIEW = "review"


class BatchState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLING = "cancelling"  # no new creates; tasks already created are still polled and stored
    FINISHED = "finished"
    CANCELLED = "cancelled"


S = JobState

FINAL_STATES: frozenset[JobState] = frozenset({S.STORED, S.FAILED, S.CANCELLED, S.SKIPPED_BUDGET})

# States in which a task exists (or may exist) at the provider and holds one of its slots.
IN_FLIGHT_STATES: frozenset[JobState] = frozenset({S.SUBMITTING, S.SUBMITTED, S.PROCESSING})
# States in which the provider has the job's task and is rendering it (or has just finished).
RENDERING_STATES: frozenset[JobState] = frozenset({S.SUBMITTED, S.PROCESSING})

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    S.PENDING: frozenset({S.SUBMITTING, S.PAUSED, S.CANCELLED, S.SKIPPED_BUDGET, S.FAILED}),
    S.SUBMITTING: frozenset({S.SUBMITTED, S.PENDING, S.PAUSED, S.FAILED, S.REVIEW}),
    S.SUBMITTED: frozenset({S.PROCESSING, S.DOWNLOADING, S.FAILED}),
    S.PROCESSING: frozenset({S.DOWNLOADING, S.FAILED}),
    S.DOWNLOADING: frozenset({S.STORED, S.FAILED}),
    S.PAUSED: frozenset({S.PENDING, S.CANCELLED}),
    S.REVIEW: frozenset({S.SUBMITTED, S.PENDING, S.FAILED}),
    S.FAILED: frozenset({S.PENDING}),  # an explicit retry starts a new attempt
    S.STORED: frozenset(),
    S.CANCELLED: frozenset(),
    S.SKIPPED_BUDGET: frozenset({S.PENDING}),  # a resumed batch with a raised budget
}


class IllegalTransition(ValueError):
    """A transition the state machine does not allow (a programming error, not a race)."""


def check_transition(current: JobState, target: JobState) -> None:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"job state {current.value} cannot become {target.value}")
