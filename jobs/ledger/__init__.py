"""The results ledger: what each batch and job is doing, what it cost, and how it got there.

`Ledger` (in `store`) is the whole interface; it hands out frozen records (`records`) and raises
the errors drawn in `errors`. States and the transitions allowed between them are in `states`.
"""

from jobs.ledger.errors import (
    BatchNameTaken,
    LedgerConflict,
    LedgerError,
    LedgerNotFound,
    LedgerUnavailable,
    SchemaMismatch,
)
from jobs.ledger.records import (
    BatchRecord,
    CreditRow,
    EventRecord,
    JobName,
    JobRecord,
    SettledJob,
    Totals,
    WatchedJob,
    external_id,
)
from jobs.ledger.states import BatchState, IllegalTransition, JobState
from jobs.ledger.store import Ledger, Move

__all__ = [
    "BatchNameTaken",
    "BatchRecord",
    "BatchState",
    "CreditRow",
    "EventRecord",
    "IllegalTransition",
    "JobName",
    "JobRecord",
    "JobState",
    "Ledger",
    "LedgerConflict",
    "LedgerError",
    "LedgerNotFound",
    "LedgerUnavailable",
    "Move",
    "SchemaMismatch",
    "SettledJob",
    "Totals",
    "WatchedJob",
    "external_id",
]
