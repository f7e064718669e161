"""Following a batch until it ends: progress, counts by state, throughput, ETA, credits estimated
and charged, and the throttle (slots in use, jobs waiting, recent 429s).

On a terminal it is a live Rich display; elsewhere (CI logs, pipes) it is plain lines: one when
something changed, and at least one every `HEARTBEAT_S` so a quiet batch still shows it is alive.
`kbatch watch`, `kbatch submit --wait` and `kbatch demo` all show it through `follow`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from jobs.ledger import Ledger
from jobs.ledger.states import FINAL_STATES, BatchState, JobState
from worker.cli.console import is_interactive, out
from worker.throttle_status import ThrottleProbe, ThrottleView

ENDED = (BatchState.FINISHED, BatchState.CANCELLED, BatchState.PAUSED)
HEARTBEAT_S = 30.0
THROUGHPUT_WINDOW_S = 60.0

Probe = Callable[[], ThrottleView | None]
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One look at a batch: the ledger's counts and credits, and the account's throttle."""

    state: BatchState
    counts: dict[JobState, int]
    total: int
    estimated: Decimal
    charged: Decimal
    at: float
    name: str = ""
    batch_id: int = 0
    throttle: ThrottleView | None = None

    @property
    def final(self) -> int:
        return sum(n for s, n in self.counts.items() if s in FINAL_STATES)

    def counts_text(self) -> str:
        return ", ".join(f"{s.value} {n}" for s in JobState if (n := self.counts.get(s, 0)))

    def line(self) -> str:
        return (
            f"{self.final}/{self.total} final ({self.counts_text()}); credits charged "
            f"{credits(self.charged)} of {credits(self.estimated)} estimated; "
            f"batch {self.state.value}"
        )

    def key(self) -> Hashable:
        """What a plain-output reader cares to see change (not the clock or the rate)."""
        t = self.throttle
        throttle = (
            None if t is None else (t.in_use, t.limit, t.waiting, t.refused, t.cooldown_s > 0)
        )
        counts = tuple(sorted((s.value, n) for s, n in self.counts.items()))
        return (self.state, counts, self.charged, self.estimated, throttle)


def snapshot(
    ledger: Ledger,
    batch_id: int,
    *,
    throttle: Probe | None = None,
    clock: Clock = time.monotonic,
) -> Snapshot:
    batch = ledger.batch(batch_id)
    counts = ledger.counts(batch_id)
    totals = ledger.totals(batch_id)
    return Snapshot(
        state=batch.state,
        counts=counts,
        total=sum(counts.values()),
        estimated=totals.estimated_credits,
        charged=totals.charged_credits,
        at=clock(),
        name=batch.name,
        batch_id=batch.id,
        throttle=throttle() if throttle is not None else None,
    )


class Throughput:
    """Jobs reaching a final state per minute over a sliding window, and the ETA it implies.

    A window rather than the whole run: a watch attached to a half-done batch must not count
    the jobs finished before it started, and the rate follows the throttle as it changes.
    """

    def __init__(self, window_s: float = THROUGHPUT_WINDOW_S) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, at: float, final: int) -> None:
        self._samples.append((at, final))
        # Keep the newest sample at or before the window's start, so the span covers the window.
        while len(self._samples) > 2 and self._samples[1][0] <= at - self.window_s:
            self._samples.popleft()

    def per_minute(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, f0), (t1, f1) = self._samples[0], self._samples[-1]
        return None if t1 <= t0 else max(0, f1 - f0) / (t1 - t0) * 60.0

    def eta_s(self, remaining: int) -> float | None:
        if remaining <= 0:
            return 0.0
        rate = self.per_minute()
        return None if not rate else remaining / rate * 60.0


def duration(seconds: float | None) -> str:
    """45s, 8m05s, 2h03m; "?" when unknown."""
    if seconds is None:
        return "?"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _rate_text(snap: Snapshot, rate: Throughput) -> str:
    per_min = rate.per_minute()
    shown = "?" if per_min is None else f"{per_min:.1f}"
    return f"{shown} jobs/min, ETA {duration(rate.eta_s(snap.total - snap.final))}"


def credits(value: Decimal) -> str:
    """Credits without the ledger's trailing zeros: 120, 40.5."""
    return f"{value.normalize():f}"


def _credits_text(snap: Snapshot) -> str:
    return f"{credits(snap.charged)} charged of {credits(snap.estimated)} estimated"


def _throttle_text(snap: Snapshot) -> str:
    return "unavailable (Redis)" if snap.throttle is None else snap.throttle.describe()


def plain_line(snap: Snapshot, rate: Throughput, *, wall: datetime | None = None) -> str:
    """The view as one line for logs and pipes."""
    at = (wall or datetime.now()).strftime("%H:%M:%S")
    return (
        f"{at} batch {snap.name}: {snap.final}/{snap.total} final ({snap.counts_text()}) | "
        f"{_rate_text(snap, rate)} | credits {_credits_text(snap)} | "
        f"throttle {_throttle_text(snap)} | {snap.state.value}"
    )


def frame(snap: Snapshot, rate: Throughput, elapsed: float) -> RenderableType:
    """The live display: one frame of it."""
    title = Text.assemble(
        ("batch ", "bold"), (snap.name, "bold cyan"), f" (id {snap.batch_id}) ", snap.state.value
    )
    share = snap.final / snap.total if snap.total else 1.0
    bar = Table.grid(padding=(0, 2))
    bar.add_row(
        ProgressBar(total=max(snap.total, 1), completed=snap.final, width=40),
        f"{snap.final}/{snap.total} final",
        f"{share:.0%}",
        f"elapsed {duration(elapsed)}",
    )
    counts = Table.grid(padding=(0, 2))
    shown = [(s, n) for s in JobState if (n := snap.counts.get(s, 0))]
    counts.add_row(*(Text(s.value, style="dim") for s, _ in shown))
    counts.add_row(*(str(n) for _, n in shown))
    details = Table.grid(padding=(0, 2))
    details.add_row(Text("throughput", style="dim"), _rate_text(snap, rate))
    details.add_row(Text("credits", style="dim"), _credits_text(snap))
    details.add_row(Text("throttle", style="dim"), _throttle_text(snap))
    return Group(title, bar, counts, details)


def _ended(snap: Snapshot, started: float, timeout: float | None) -> bool:
    return snap.state in ENDED or (timeout is not None and snap.at - started > timeout)


def follow(
    ledger: Ledger,
    batch_id: int,
    *,
    interval: float = 0.5,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    throttle: Probe | None = None,
    console: Console | None = None,
    clock: Clock = time.monotonic,
) -> Snapshot:
    """Show the batch until it finishes, is cancelled or pauses (or `timeout` passes); returns
    the last view.

    `throttle` reads the throttle (default: the configured account in the configured Redis).
    The display is live when `console` (default: stdout) is a terminal.
    """
    target = console or out
    live = target.is_terminal if console is not None else is_interactive()
    run = _follow_live if live else _follow_plain
    if throttle is not None:
        return run(ledger, batch_id, target, throttle, interval, timeout, sleep, clock)
    probe = ThrottleProbe.from_settings()
    try:
        return run(ledger, batch_id, target, probe, interval, timeout, sleep, clock)
    finally:
        probe.close()


def _follow_plain(
    ledger: Ledger,
    batch_id: int,
    console: Console,
    probe: Probe,
    interval: float,
    timeout: float | None,
    sleep: Callable[[float], None],
    clock: Clock,
) -> Snapshot:
    started = clock()
    rate = Throughput()
    last_key: Hashable = None
    last_print = float("-inf")
    while True:
        snap = snapshot(ledger, batch_id, throttle=probe, clock=clock)
        rate.add(snap.at, snap.final)
        ended = _ended(snap, started, timeout)
        if ended or snap.key() != last_key or snap.at - last_print >= HEARTBEAT_S:
            console.print(plain_line(snap, rate), markup=False, highlight=False, soft_wrap=True)
            last_key, last_print = snap.key(), snap.at
        if ended:
            return snap
        sleep(interval)


def _follow_live(
    ledger: Ledger,
    batch_id: int,
    console: Console,
    probe: Probe,
    interval: float,
    timeout: float | None,
    sleep: Callable[[float], None],
    clock: Clock,
) -> Snapshot:
    started = clock()
    rate = Throughput()
    snap = snapshot(ledger, batch_id, throttle=probe, clock=clock)
    rate.add(snap.at, snap.final)
    # Redrawn on each look only: no refresh thread, the numbers change no faster than that.
    with Live(frame(snap, rate, 0.0), console=console, auto_refresh=False, transient=False) as view:
        while True:
            view.update(frame(snap, rate, snap.at - started), refresh=True)
            if _ended(snap, started, timeout):
                return snap
            sleep(interval)
            snap = snapshot(ledger, batch_id, throttle=probe, clock=clock)
            rate.add(snap.at, snap.final)
