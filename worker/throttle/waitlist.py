"""The wait list: jobs of one account waiting for a slot, oldest first, each at most once.

Waiting is a member of one Redis sorted set, not a task: however many jobs wait, none costs a task
execution, a countdown message in a worker's memory or a ledger write until a slot is handed to it.
A job's position is its priority when one is given, else the next value of the account's push
counter (1, 2, 3, ...): pushes without a priority are served in order, and a priority of 0 puts a
job ahead of all of them (a job refused by the provider goes back to the head).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from redis import Redis

from worker.throttle.convert import num, text
from worker.throttle.errors import fail_closed
from worker.throttle.keys import DEFAULT_PREFIX, WAIT_TTL_S, AccountKeys, check_name
from worker.throttle.scripts import scripts_for

# Ids per script call in `push_many`: one call must not block Redis for long.
_CHUNK = 1000


class WaitList:
    """FIFO (with optional priorities) of job ids waiting for a slot of one account."""

    def __init__(self, redis: Redis, account: str, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = redis
        self.account = check_name("account", account)
        self.keys = AccountKeys(prefix, account)
        self._scripts = scripts_for(redis)
        self._ttl_ms = str(WAIT_TTL_S * 1000)

    def push(self, job_id: int | str, *, priority: float | None = None) -> bool:
        """Add a job; False when it already waits (it keeps its place)."""
        return self._push([str(job_id)], priority) == 1

    def push_many(self, job_ids: Iterable[int | str]) -> int:
        """Add jobs in order; returns how many were not already waiting."""
        ids = [str(j) for j in job_ids]
        return sum(self._push(ids[i : i + _CHUNK], None) for i in range(0, len(ids), _CHUNK))

    def _push(self, ids: list[str], priority: float | None) -> int:
        if not ids:
            return 0
        prio = "" if priority is None else num(priority)
        with fail_closed("the wait list"):
            added = self._scripts.push(
                keys=[self.keys.wait, self.keys.wait_seq], args=[self._ttl_ms, prio, *ids]
            )
        return int(added)

    def pop(self, n: int) -> list[str]:
        """Take up to `n` of the first jobs, atomically (two callers never get the same job)."""
        if n <= 0:
            return []
        with fail_closed("the wait list"):
            popped = self._scripts.pop(keys=[self.keys.wait], args=[str(n), self._ttl_ms])
        return [text(j) for j in popped]

    def peek(self, n: int) -> list[str]:
        """The first `n` jobs, left in place."""
        if n <= 0:
            return []
        with fail_closed("the wait list"):
            first = cast("list[bytes | str]", self.redis.zrange(self.keys.wait, 0, n - 1))
        return [text(j) for j in first]

    def remove(self, job_id: int | str) -> bool:
        """Take one job out (cancelled, paused); False when it was not waiting."""
        return self.remove_many([job_id]) == 1

    def remove_many(self, job_ids: Iterable[int | str]) -> int:
        """Take jobs out (a paused or cancelled batch); returns how many were waiting."""
        ids = [str(j) for j in job_ids]
        removed = 0
        with fail_closed("the wait list"):
            for i in range(0, len(ids), _CHUNK):
                removed += int(self.redis.zrem(self.keys.wait, *ids[i : i + _CHUNK]))
        return removed

    def position(self, job_id: int | str) -> int | None:
        """How many jobs are ahead of this one, or None when it is not waiting."""
        with fail_closed("the wait list"):
            return cast("int | None", self.redis.zrank(self.keys.wait, str(job_id)))

    def __len__(self) -> int:
        with fail_closed("the wait list"):
            return self.redis.zcard(self.keys.wait)

    def __contains__(self, job_id: object) -> bool:
        if not isinstance(job_id, int | str):
            return False
        with fail_closed("the wait list"):
            return self.redis.zscore(self.keys.wait, str(job_id)) is not None
