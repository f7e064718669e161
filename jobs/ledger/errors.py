"""What the ledger raises.

    LedgerError
     ├── LedgerNotFound     no batch or job with that id or name (also a LookupError)
     ├── LedgerConflict     a batch name, or a job key within one batch, is already taken
     │    └── BatchNameTaken  the name given to a new batch is
     ├── LedgerUnavailable  the database cannot be reached (or is locked) right now: retry later
     └── SchemaMismatch     the database was migrated by a newer kbatch than this one

`jobs.ledger.states.IllegalTransition` (a ValueError) is deliberately outside this tree: it is a
programming error, raised before the database is touched, never a race a caller should handle.
A lost compare-and-set is not an error at all: `Ledger.transition` returns False.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of the ledger's own errors."""


class LedgerNotFound(LedgerError, LookupError):
    """No batch or job with that id, name or external id."""


class LedgerConflict(LedgerError):
    """A unique name or key is already taken."""


class BatchNameTaken(LedgerConflict):
    """Another batch has this name."""


class LedgerUnavailable(LedgerError):
    """The database did not answer (down, restarting, unreachable, locked): worth a retry."""


class SchemaMismatch(LedgerError):
    """The database's schema revision is not one this code knows."""
