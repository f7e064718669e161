"""The steps a job goes through, as plain functions over a `Context`: dispatch, submit, poll, store.

Each step reads the job from the ledger, does one piece of work, moves the job with a
compare-and-set transition and returns an `Outcome` saying what should happen next. Celery tasks
(`worker.tasks`) only turn outcomes into messages, so every step is testable without a broker, and
every step is idempotent because `acks_late` means a message can be delivered twice.
"""
