"""Per-process resources the pipeline steps use: ledger, provider client, storage, Redis, throttle.

One `Context` per worker process, built lazily on first use and dropped after a fork, so that every
process owns its own HTTP connection pool, database engine and Redis connections. The threads of a
threads pool share it: each of those is safe to use from several threads, and building them is
done under a lock. The provider client and the storage are opened when a step first uses them: a
submit worker never stores, a store worker never creates, and `kbatch submit` does neither (an
HTTP client costs an SSL context, an S3 storage a boto3 client).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import redis

from jobs.ledger import Ledger
from jobs.pricing import PriceTable, load_price_table
from worker.names import REDIS_PREFIX, Task
from worker.providers.base import ProviderClient
from worker.providers.factory import credentials_for, make_client
from worker.settings import Settings, get_settings
from worker.storage import Storage, open_storage
from worker.throttle import RateLimiter, SlotPool, WaitList
from worker.throttle_status import RefusalLog


class JobIdentity(Protocol):
    """What a task message carries about a job: its id, plus batch and key for people reading it."""

    @property
    def id(self) -> int: ...
    @property
    def batch_id(self) -> int: ...
    @property
    def key(self) -> str: ...


@dataclass(frozen=True, slots=True)
class JobRef:
    id: int
    batch_id: int
    key: str


class Enqueue(Protocol):
    """Sends one step of one job to its queue (Celery in production, a list in tests)."""

    def __call__(self, task: Task, job: JobIdentity | None, countdown: float = 0.0) -> None: ...


@dataclass
class Context:
    settings: Settings
    ledger: Ledger
    redis: redis.Redis
    pool: SlotPool
    waitlist: WaitList
    prices: PriceTable
    enqueue: Enqueue
    refusals: RefusalLog | None = None  # the provider's recent 429s, shown by `kbatch watch`
    rate_limiter: RateLimiter | None = None
    now: Callable[[], float] = time.time
    prefix: str = REDIS_PREFIX
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)
    _provider: ProviderClient | None = field(default=None, repr=False)
    _storage: Storage | None = field(default=None, repr=False)

    @property
    def account(self) -> str:
        return self.settings.provider.account

    @property
    def provider(self) -> ProviderClient:
        if self._provider is None:
            with _building:
                if self._provider is None:
                    client = make_client(self.settings.provider)
                    self._closers.append(client.close)
                    self._provider = client
        return self._provider

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            with _building:
                if self._storage is None:
                    self._storage = open_storage(self.settings)
        return self._storage

    def close(self) -> None:
        for close in self._closers:
            close()
        self._closers.clear()
        self._provider = self._storage = None


def build_context(
    settings: Settings,
    enqueue: Enqueue,
    *,
    prefix: str = REDIS_PREFIX,
    now: Callable[[], float] = time.time,
) -> Context:
    """Open every resource the steps need, from settings."""
    client = redis.Redis.from_url(settings.redis_url.get_secret_value())
    # The ledger's timestamps and the steps' clock must agree: elapsed times mix the two.
    ledger = Ledger.open(
        settings.database_url.get_secret_value(), clock=lambda: datetime.fromtimestamp(now(), UTC)
    )
    credentials_for(settings.provider)  # no credentials: refused now, not at the first create
    account = settings.provider.account
    limiter = None
    if settings.provider.requests_per_second:
        limiter = RateLimiter(
            client,
            f"provider:{account}",
            rate_per_s=settings.provider.requests_per_second,
            prefix=prefix,
            now=now,
        )
    ctx = Context(
        settings=settings,
        ledger=ledger,
        redis=client,
        pool=SlotPool(client, account, limit=settings.provider.concurrency, prefix=prefix, now=now),
        waitlist=WaitList(client, account, prefix=prefix),
        prices=load_price_table(settings.price_table),
        enqueue=enqueue,
        refusals=RefusalLog(client, account, prefix=prefix, now=now),
        rate_limiter=limiter,
        now=now,
        prefix=prefix,
    )
    ctx._closers.extend([ledger.close, client.close])
    return ctx


_context: Context | None = None
_context_pid: int | None = None
# One lock for building the context, its provider client and its storage: none of them builds
# another, so it is never taken twice by one thread.
_building = threading.Lock()


def process_context(enqueue: Enqueue) -> Context:
    """This process's context, rebuilt after a fork (connections must not cross processes)."""
    global _context, _context_pid
    pid = os.getpid()
    if _context is None or _context_pid != pid:
        with _building:
            if _context is None or _context_pid != pid:
                _context = build_context(get_settings(), enqueue)
                _context_pid = pid
    return _context
