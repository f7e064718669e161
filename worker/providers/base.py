"""What every provider client offers, and the normalized task status it reports.

A client speaks one dialect of the Kling API; callers see only `ProviderClient`, `TaskStatus` and
the errors of `worker.providers.errors`, whatever the dialect's own names and shapes are.
"""

from __future__ import annotations

from collections.abc import Container
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from jobs.spec import JobSpec

if TYPE_CHECKING:
    from worker.providers.downloads import Download

ResultKind = Literal["video", "image"]


class ProviderState(StrEnum):
    """Where a task is at the provider, in the same four words for every dialect."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (ProviderState.SUCCEEDED, ProviderState.FAILED)


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """One task as the provider last described it.

    `units` is what the provider charged (`final_unit_deduction`); `result_seconds` the length of
    the delivered video, which need not equal the requested duration.
    """

    task_id: str
    state: ProviderState
    message: str | None = None
    result_url: str | None = None
    result_kind: ResultKind | None = None
    units: Decimal | None = None
    result_seconds: float | None = None
    external_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_final(self) -> bool:
        return self.state.is_final


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of the provider's list of tasks, newest first."""

    statuses: list[TaskStatus]  # the page's tasks; only the wanted ones when the caller named some
    count: int  # how many tasks the page held: fewer than asked for means it was the last page
    oldest: datetime | None  # when the page's last (oldest) task was created


@runtime_checkable
class ProviderClient(Protocol):
    """A client of one provider dialect: one per worker process, holding one connection pool."""

    @property
    def dialect(self) -> str: ...

    @property
    def supports_external_id(self) -> bool:
        """Whether `create` sends the external id and `find` can look a task up by it."""
        ...

    def create(
        self, spec: JobSpec, external_id: str, *, callback_url: str | None = None
    ) -> TaskStatus: ...

    def query(self, task_id: str, spec: JobSpec) -> TaskStatus:
        """The task's current status; `spec` tells which product path to ask."""
        ...

    @property
    def supports_listing(self) -> bool:
        """Whether `list_recent` can report many tasks in one request."""
        ...

    def list_recent(
        self,
        spec: JobSpec,
        *,
        page: int = 1,
        size: int = 500,
        wanted: Container[str] | None = None,
    ) -> Listing:
        """One page of the account's tasks of `spec`'s product, newest first. With `wanted`
        (task ids), only those tasks are read into statuses: a look wants a few of the page's
        tasks, and reading the others would cost most of the look's parsing."""
        ...

    def listing_key(self, spec: JobSpec) -> str:
        """Which list `spec`'s task appears in (specs with the same key share one list)."""
        ...

    def find(self, external_id: str, spec: JobSpec) -> TaskStatus | None:
        """The task created with this external id, or None when the provider knows none."""
        ...

    def download(self, url: str) -> AbstractContextManager[Download]:
        """Open a result URL for streaming; 403/404/410 raise `ResultGone`."""
        ...

    def preflight_image(self, url: str) -> None:
        """Raise `ImageUnreachable` unless the provider could fetch this image URL."""
        ...

    def close(self) -> None: ...
