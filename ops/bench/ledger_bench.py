"""Throughput of the results ledger on SQLite and PostgreSQL: how fast a batch is recorded, and
how many job transitions per second one thread, several threads and several processes get.

    python -m ops.bench.ledger_bench [--jobs N] [--large N] [--threads T] [--processes P]
                                     [--sqlite] [--postgres ADMIN_URL]

Each job walks the worker's path: PENDING -> SUBMITTING -> SUBMITTED -> PROCESSING ->
DOWNLOADING -> STORED (five transitions) plus one poll-count update, i.e. six writes, each its
own transaction. The SQLite ledger lives in a temporary folder; for PostgreSQL a scratch
database is created through ADMIN_URL and dropped at the end.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal

import sqlalchemy as sa

from jobs.catalog import Mode
from jobs.ledger import JobState, Ledger
from jobs.spec import Job, JobSpec

S = JobState
PATH = [S.PENDING, S.SUBMITTING, S.SUBMITTED, S.PROCESSING, S.DOWNLOADING, S.STORED]
WRITES_PER_JOB = len(PATH)  # five transitions and one update
DEFAULT_PG_ADMIN = os.environ.get(
    "KBATCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def make_jobs(n: int, salt: str) -> list[Job]:
    return [
        Job.of(
            JobSpec(mode=Mode.TEXT2VIDEO, model="kling-v3", prompt=f"{salt} shot {i}", duration=5),
            row_id=str(i),
            source=f"bench.csv:{i + 2}",
        )
        for i in range(n)
    ]


def new_batch(ledger: Ledger, n: int) -> list[int]:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    batch = ledger.create_batch(name, make_jobs(n, name), [Decimal(40)] * n, manifest=None)
    return ledger.job_ids(batch.id)


def walk(ledger: Ledger, job_ids: Sequence[int]) -> None:
    for job_id in job_ids:
        for a, b in itertools.pairwise(PATH):
            if b is S.PROCESSING:
                ledger.update(job_id, poll_count=1)
            fields = {"provider_task_id": "1"} if b is S.SUBMITTED else {}
            if not ledger.transition(job_id, a, b, **fields):
                raise RuntimeError(f"uncontended transition {a} -> {b} lost on job {job_id}")


def _walk_in_process(url: str, job_ids: list[int]) -> None:
    with Ledger.open(url, upgrade=False) as ledger:
        walk(ledger, job_ids)


def bench_create(ledger: Ledger, n: int) -> float:
    """Jobs recorded per second by one create_batch of `n` jobs (specs built beforehand)."""
    name = f"large-{uuid.uuid4().hex[:8]}"
    jobs = make_jobs(n, name)
    estimates = [Decimal(40)] * n
    start = time.perf_counter()
    ledger.create_batch(name, jobs, estimates, manifest=None)
    return n / (time.perf_counter() - start)


def bench_threads(ledger: Ledger, jobs: int, threads: int) -> float:
    """Writes per second with `threads` threads sharing one Ledger, each on its own jobs."""
    ids = new_batch(ledger, jobs)
    shares = [ids[i::threads] for i in range(threads)]
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda share: walk(ledger, share), shares))
    return jobs * WRITES_PER_JOB / (time.perf_counter() - start)


def bench_processes(ledger: Ledger, url: str, jobs: int, processes: int) -> float:
    """Writes per second with `processes` processes, each with its own Ledger and jobs."""
    ids = new_batch(ledger, jobs)
    ctx = multiprocessing.get_context("spawn")
    shares = [ids[i::processes] for i in range(processes)]
    with ctx.Pool(processes) as pool:
        # Warm the workers (imports, connections) so the timing is of the ledger only.
        pool.starmap(_walk_in_process, [(url, []) for _ in shares])
        start = time.perf_counter()
        pool.starmap(_walk_in_process, [(url, share) for share in shares])
        elapsed = time.perf_counter() - start
    return jobs * WRITES_PER_JOB / elapsed


def run(label: str, url: str, args: argparse.Namespace) -> None:
    with Ledger.open(url) as ledger:
        created = bench_create(ledger, args.large)
        one = bench_threads(ledger, args.jobs, 1)
        many = bench_threads(ledger, args.jobs, args.threads)
        procs = bench_processes(ledger, url, args.jobs, args.processes)
    print(f"{label}:")
    print(f"  create_batch of {args.large:,} jobs     {created:10,.0f} jobs/s")
    print(f"  transitions, 1 thread            {one:10,.0f} writes/s ({one / 6:,.0f} jobs/s)")
    print(
        f"  transitions, {args.threads} threads           "
        f"{many:10,.0f} writes/s ({many / 6:,.0f} jobs/s)"
    )
    print(
        f"  transitions, {args.processes} processes         "
        f"{procs:10,.0f} writes/s ({procs / 6:,.0f} jobs/s)"
    )


@contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    name = f"kbatch_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs walked per measurement")
    parser.add_argument("--large", type=int, default=100_000, help="jobs in the create_batch run")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--sqlite", action="store_true", help="bench SQLite (default: both)")
    parser.add_argument("--postgres", metavar="ADMIN_URL", nargs="?", const=DEFAULT_PG_ADMIN)
    args = parser.parse_args()
    both = not args.sqlite and args.postgres is None
    if args.sqlite or both:
        with tempfile.TemporaryDirectory() as folder:
            run("SQLite (WAL, synchronous=NORMAL)", f"sqlite:///{folder}/bench.db", args)
    if args.postgres is not None or both:
        with scratch_postgres(args.postgres or DEFAULT_PG_ADMIN) as url:
            run("PostgreSQL (psycopg 3)", url, args)


if __name__ == "__main__":
    main()
