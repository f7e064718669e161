"""Task lifecycle, slots and balance, on an injectable clock; the same engine serves both dialects.

A task's timing is drawn at create from a seeded RNG; its state is computed from the clock when
asked (submitted → processing → succeed | failed). A heap of due events lets `process_due` end
tasks nobody queries, so slots are freed and callbacks fire on time. Everything is in memory and
every lookup is a dict access.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from worker.sim.accounts import Account
from worker.sim.clock import Clock
from worker.sim.config import AccountConfig, SimConfig
from worker.sim.errors import Reason, Refusal
from worker.sim.metrics import Metrics
from worker.sim.models import Product, speed_factor

CONTENT_FAILURE = "Failure to pass the risk control system: the generated content was blocked"
GENERATION_FAILURE = "Task failed: internal generation error, please try again"


class Status(StrEnum):
    SUBMITTED = "submitted"
    PROCESSING = "processing"
    SUCCEED = "succeed"
    FAILED = "failed"


FINAL = frozenset({Status.SUCCEED, Status.FAILED})


@dataclass(frozen=True, slots=True)
class InputRef:
    """A URL or base64 payload the service must fetch before it can render."""

    field: str  # the request field it came from, for messages
    value: str
    kind: str  # "image" or "video"


@dataclass(frozen=True)
class TaskRequest:
    """A validated create, in the engine's terms (each dialect parses its own body into one)."""

    dialect: str
    product: Product
    model: str  # wire model name
    identity: str  # external id, or the canonical request body when there is none
    seconds: int = 0
    pro: bool = False
    audio: bool = False
    multi_shot: bool = False
    images: int = 1
    prompt_text: str = ""  # every prompt of the request, for the marker checks
    external_task_id: str | None = None
    callback_url: str | None = None
    inputs: tuple[InputRef, ...] = ()
    units: Decimal = Decimal(0)
    plan_names: tuple[str, ...] = ()  # names the plan lists it under, when not `model`


@dataclass(eq=False)
class Task:
    """One task and its timeline (engine-clock seconds)."""

    task_id: str
    account: str
    request: TaskRequest
    base_url: str
    created_at: float
    processing_at: float
    end_at: float
    sim_seconds: float  # drawn generation time, simulated seconds
    fails: bool
    fail_reason: str = ""
    video_id: str = ""
    final: Status | None = None
    announced_processing: bool = False
    inputs_pending: int = 0
    input_failed: bool = False
    first_final_seen_at: float | None = None
    units_charged: Decimal = Decimal(0)

    @property
    def product(self) -> Product:
        return self.request.product

    @property
    def pack(self) -> str:
        return self.request.product.pack


Listener = Callable[[Task, Status], None]


def updated_at(task: Task, status: Status) -> float:
    """When the task last changed state, as of `status`."""
    if status in FINAL:
        return task.end_at
    return task.processing_at if status is Status.PROCESSING else task.created_at


def seeded(seed: int, stream: str) -> random.Random:
    """An RNG of its own per concern, so enabling one fault does not shift another's draws."""
    return random.Random(f"{seed}:{stream}")


@dataclass
class Engine:
    """Accounts and tasks of one simulator run."""

    config: SimConfig
    clock: Clock
    seed: int
    metrics: Metrics = field(default_factory=Metrics)
    listeners: list[Listener] = field(default_factory=list)
    # called when an event was scheduled, so a sleeping ticker can look at the heap again
    wake: Callable[[], None] = lambda: None
    # bumped whenever accounts or keys change, so auth knows its key index is stale
    version: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every task and counter; accounts and RNGs return to their configured start."""
        self.clock.reset()
        self.metrics = Metrics()
        self.accounts: dict[str, Account] = {
            cfg.name: Account.from_config(cfg, self.config.concurrency)
            for cfg in self.config.account_configs()
        }
        self.tasks: dict[str, Task] = {}
        self._heap: list[tuple[float, int, int, Task]] = []
        self._seq = itertools.count()
        self._rng_time = seeded(self.seed, "time")
        self._rng_fail = seeded(self.seed, "fail")
        self._rng_ids = seeded(self.seed, "ids")
        self.version += 1

    # accounts

    def upsert_account(self, cfg: AccountConfig) -> Account:
        acc = self.accounts.get(cfg.name)
        if acc is None:
            acc = self.accounts[cfg.name] = Account.from_config(cfg, self.config.concurrency)
        else:
            acc.configure(cfg)
        self.version += 1
        return acc

    # create

    def create(self, account: Account, req: TaskRequest, base_url: str) -> Task:
        """Accept a create or raise `Refusal`; refusals leave no trace but the counters."""
        now = self.clock.now()
        self.process_due(now)
        if not account.allows(*(req.plan_names or (req.model,))):
            raise Refusal(Reason.NOT_ON_PLAN, f"model {req.model} is not on this account's plan")
        if req.external_task_id is not None and req.external_task_id in account.by_external:
            raise Refusal(
                Reason.DUPLICATE, f"external_task_id {req.external_task_id} already exists"
            )
        if self.config.refuse_marker and self.config.refuse_marker in req.prompt_text:
            raise Refusal(Reason.CONTENT, "Failure to pass the risk control system")
        available = account.available()
        if available is not None and available < req.units:
            raise Refusal(Reason.BALANCE, "Account balance not enough")
        if account.in_flight(req.product.pack) >= account.concurrency:
            raise Refusal(
                Reason.CONCURRENCY,
                "parallel task over resource pack limit",
                retry_after=self._next_slot_in(account, req.product.pack, now),
            )
        task = self._new_task(account, req, base_url, now)
        self.tasks[task.task_id] = task
        account.tasks.append(task)
        if req.external_task_id is not None:
            account.by_external[req.external_task_id] = task
        account.active.setdefault(task.pack, set()).add(task)
        account.reserved += req.units
        self.metrics.creates_accepted += 1
        if req.identity in account.identities:
            self.metrics.duplicate_creates += 1
        account.identities.add(req.identity)
        self.metrics.in_flight(account.name, account.in_flight())
        heapq.heappush(self._heap, (task.processing_at, next(self._seq), 0, task))
        heapq.heappush(self._heap, (task.end_at, next(self._seq), 1, task))
        self.wake()
        self._notify(task, Status.SUBMITTED)
        return task

    def _new_task(self, account: Account, req: TaskRequest, base_url: str, now: float) -> Task:
        cfg = self.config
        median = cfg.median_seconds * speed_factor(
            req.model,
            req.product,
            pro=req.pro,
            audio=req.audio,
            seconds=req.seconds,
            images=req.images,
        )
        sim_seconds = median * math.exp(cfg.spread * self._rng_time.gauss(0.0, 1.0))
        wall = sim_seconds * cfg.time_scale
        fails = self._rng_fail.random() < cfg.fail_rate
        reason = GENERATION_FAILURE if fails else ""
        if cfg.fail_marker and cfg.fail_marker in req.prompt_text:
            fails, reason = True, CONTENT_FAILURE
        return Task(
            task_id=self._new_id(),
            account=account.name,
            request=req,
            base_url=base_url,
            created_at=now,
            processing_at=now + wall * cfg.processing_fraction,
            end_at=now + wall,
            sim_seconds=sim_seconds,
            fails=fails,
            fail_reason=reason,
            video_id=self._new_id(),
            inputs_pending=len(req.inputs),
        )

    def _new_id(self) -> str:
        while True:
            candidate = str(
                self._rng_ids.randrange(700_000_000_000_000_000, 900_000_000_000_000_000)
            )
            if candidate not in self.tasks:
                return candidate

    def _next_slot_in(self, account: Account, pack: str, now: float) -> float:
        ends = [t.end_at for t in account.active.get(pack, ())]
        return max(0.0, min(ends) - now) if ends else 0.0

    # lookups

    def find(self, account: Account, product: Product | None, ident: str) -> Task | None:
        """The account's task with this task id or external task id, for this product."""
        task = self.tasks.get(ident)
        if task is None or task.account != account.name:
            task = account.by_external.get(ident)
        if task is None or (product is not None and task.product is not product):
            return None
        return task

    def page(self, account: Account, product: Product, number: int, size: int) -> list[Task]:
        """One page of the account's tasks for a product, newest first."""
        mine = [t for t in reversed(account.tasks) if t.product is product]
        start = (number - 1) * size
        return mine[start : start + size]

    def status(self, task: Task) -> Status:
        """The task's state now, ending it first if it is due."""
        if task.final is not None:
            return task.final
        now = self.clock.now()
        if now >= task.end_at and task.inputs_pending == 0:
            return self._finish(task)
        return Status.PROCESSING if now >= task.processing_at else Status.SUBMITTED

    def observe(self, task: Task) -> Status:
        """`status`, as a client's query sees it: the first sight of a final state is recorded."""
        status = self.status(task)
        if status in FINAL and task.first_final_seen_at is None:
            task.first_final_seen_at = self.clock.now()
        return status

    # time passing

    def process_due(self, now: float | None = None) -> float | None:
        """Apply every event due by `now`; return when the next one is due (None: none left)."""
        now = self.clock.now() if now is None else now
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _, kind, task = heapq.heappop(heap)
            if self.tasks.get(task.task_id) is not task or task.final is not None:
                continue
            if kind == 0:
                self._announce_processing(task)
            elif at == task.end_at and task.inputs_pending == 0:
                self._finish(task)
        return heap[0][0] if heap else None

    def input_checked(self, task: Task, error: str | None) -> None:
        """One input of `task` was fetched (error None) or could not be (error says why)."""
        if self.tasks.get(task.task_id) is not task or task.final is not None:
            return
        task.inputs_pending -= 1
        now = self.clock.now()
        if error is not None and not task.input_failed:
            task.fails, task.fail_reason, task.input_failed = True, error, True
            end = max(now, task.processing_at)
            if end < task.end_at:
                task.end_at = end
                heapq.heappush(self._heap, (end, next(self._seq), 1, task))
                self.wake()
        if task.inputs_pending == 0 and now >= task.end_at:
            self._finish(task)

    def _announce_processing(self, task: Task) -> None:
        if not task.announced_processing:
            task.announced_processing = True
            self._notify(task, Status.PROCESSING)

    def _finish(self, task: Task) -> Status:
        self._announce_processing(task)
        account = self.accounts[task.account]
        account.active.get(task.pack, set()).discard(task)
        account.reserved -= task.request.units
        if task.fails:
            task.final = Status.FAILED
        else:
            task.final = Status.SUCCEED
            task.units_charged = task.request.units
            if account.balance is not None:
                account.balance -= task.request.units
            self.metrics.units_by_account[account.name] += task.request.units
        self._notify(task, task.final)
        return task.final

    def _notify(self, task: Task, status: Status) -> None:
        for listener in self.listeners:
            listener(task, status)

    # reporting

    def timeline(self, task: Task) -> dict[str, Any]:
        status = self.status(task)
        req = task.request
        return {
            "task_id": task.task_id,
            "account": task.account,
            "dialect": req.dialect,
            "product": req.product.value,
            "model": req.model,
            "external_task_id": req.external_task_id,
            "status": status.value,
            "created_at": task.created_at,
            "processing_at": task.processing_at,
            "finished_at": task.end_at if status in FINAL else None,
            "first_final_seen_at": task.first_final_seen_at,
            "sim_seconds": round(task.sim_seconds, 3),
            "wall_seconds": round(task.end_at - task.created_at, 6),
            "units": str(req.units),
            "units_charged": str(task.units_charged),
            "fail_reason": task.fail_reason or None,
        }
