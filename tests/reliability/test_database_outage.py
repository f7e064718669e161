"""The ledger's PostgreSQL unreachable for a few seconds in the middle of a batch.

The workers reach the database through a TCP proxy that the test cuts: open connections are
reset and new ones refused, as when the server restarts or the network drops. Steps that meet
the outage raise `LedgerUnavailable` and are retried later, the periodic ones (the account's
watch, dispatch, the sweep) included; no task fails, and the batch then finishes by itself, with
no `kbatch resume`, every job having gone through every state, nothing created twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from jobs.ledger import Ledger
from jobs.ledger.states import BatchState, JobState
from ops.chaos import TcpProxy
from tests.reliability.runs import (
    FAST_ENV,
    ObjectReader,
    check_charges,
    check_ended,
    check_stored,
    errors_logged,
    log_records,
    slots_in_use,
    submit,
    wait_final,
    wait_for,
    write_manifest,
)
from worker.stack import Stack, local_stack

pytestmark = pytest.mark.slow

JOBS = 30
SIM = ("--time-scale", "0.02", "--median-seconds", "60", "--concurrency", "5", "--seed", "41")
ENV = FAST_ENV
# Every job that was stored went through these states, in this order.
PATH = [JobState.SUBMITTING, JobState.SUBMITTED, JobState.DOWNLOADING, JobState.STORED]


def _outages_logged(stack: Stack) -> int:
    """Tasks that met the outage (each retried, or failed)."""
    return sum(1 for record in log_records(stack) if "is unavailable" in record["msg"])


def _outage(proxy: TcpProxy, stack: Stack, seconds: float) -> int:
    """Cut the database off for at least `seconds` and until a task met the cut; returns how
    many tasks met it."""
    before = _outages_logged(stack)
    proxy.cut()
    cut_at = time.monotonic()
    wait_for(
        lambda: time.monotonic() - cut_at >= seconds and _outages_logged(stack) > before,
        "a task meeting the outage",
        60,
    )
    proxy.restore()
    return _outages_logged(stack) - before


def _moved_on(stored: Callable[[], int], before: int) -> bool:
    now = stored()
    return now > before or now == JOBS


# One outage of a few seconds, and a database flapping: short cuts with short recoveries.
OUTAGES = {"once": (4.0,), "flapping": (0.5,) * 8}


@pytest.mark.parametrize("pattern", list(OUTAGES))
def test_a_batch_rides_out_a_database_outage(tmp_path: Path, pg_url: str, pattern: str) -> None:
    direct = make_url(pg_url)
    Ledger.open(pg_url).close()  # the schema, created before the outage can matter
    with TcpProxy((direct.host or "127.0.0.1", direct.port or 5432)) as proxy:
        proxied = direct.set(host="127.0.0.1", port=proxy.port).render_as_string(
            hide_password=False
        )
        env = {**ENV, "KBATCH_DATABASE_URL": proxied}
        with local_stack(tmp_path / "stack", sim_args=SIM, extra_env=env) as stack:
            ledger = Ledger.open(pg_url)  # the test's own view, around the proxy
            try:
                batch_id = submit(stack.env, write_manifest(tmp_path, JOBS, f"db-{pattern}"))

                def stored() -> int:
                    return ledger.counts(batch_id)[JobState.STORED]

                wait_for(lambda: stored() >= 5, "a batch under way", 60)
                during = ledger.counts(batch_id)
                met = 0
                for seconds in OUTAGES[pattern]:
                    done = stored()
                    met += _outage(proxy, stack, seconds)
                    # Between two cuts, the batch moves on.
                    wait_for(partial(_moved_on, stored, done), "progress after the cut", 60)
                # A task that failed instead of retrying ends its chain of steps: a job stranded
                # mid-way, or the account's watch gone until the next sweep.
                assert errors_logged(stack) == []
                # Retries back off (up to a minute) while the database stays away.
                wait_final(ledger, batch_id, timeout=90)
                assert errors_logged(stack) == []

                assert check_ended(ledger, batch_id, JOBS) == {JobState.STORED: JOBS}
                assert ledger.batch(batch_id).state is BatchState.FINISHED
                for job in ledger.jobs(batch_id):
                    went = [e.to_state for e in ledger.events(job.id) if e.kind == "transition"]
                    assert [s for s in went if s in PATH] == PATH, (job.key, went)
                stats = stack.sim.stats()
                assert stats["creates_accepted"] == JOBS
                assert stats["duplicate_creates"] == 0
                assert stats["in_flight"] == {"default": 0}
                wait_for(lambda: slots_in_use(stack.redis_url) == 0, "every slot's release", 100)
                check_charges(ledger, batch_id, stats)
                check_stored(ledger, batch_id, ObjectReader())
                state = {s.value: n for s, n in during.items() if n}
                print(
                    f"\ndatabase {pattern}: {JOBS} jobs, {len(OUTAGES[pattern])} cut(s) from "
                    f"{state}, {met} tasks met them and retried, stored {JOBS}, duplicates 0"
                )
            finally:
                ledger.close()
