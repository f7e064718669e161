"""Bodies of the processes the race tests start (spawned, so they must live in a module)."""

from __future__ import annotations

import traceback
from typing import Any

from jobs.ledger import JobState, Ledger


def race_transitions(url: str, job_ids: list[int], barrier: Any, results: Any) -> None:
    """For each job: wait for every racer, then try PENDING -> SUBMITTING; report the wins."""
    try:
        with Ledger.open(url, upgrade=False) as ledger:
            won = []
            for job_id in job_ids:
                barrier.wait()
                if ledger.transition(job_id, JobState.PENDING, JobState.SUBMITTING):
                    won.append(job_id)
        results.put(("ok", won))
    except BaseException:
        barrier.abort()
        results.put(("error", traceback.format_exc()))
