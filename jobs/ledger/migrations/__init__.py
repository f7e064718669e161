"""Alembic migrations of the ledger's schema (run through `jobs.ledger.schema`, not alembic.ini)."""
