"""Chaos for reliability runs: workers killed at seeded moments, and network links cut.

`WorkerKiller` SIGKILLs a random worker process of a running `Stack` every few seconds and starts
it again, as an out-of-memory killer or a lost host would: no signal handler runs, no message is
acknowledged, nothing is flushed. Which worker dies and when comes from a seeded RNG, so a run
can be repeated.

`Supervisor` restarts any worker that exits on its own, as a deployment's process manager does
(compose's `restart: unless-stopped`), and counts the restarts.

`TcpProxy` forwards a local port to a service (PostgreSQL, Redis) and can `cut` the link, closing
every open connection and refusing new ones, then `restore` it on the same port, as a restarting
database server or a network blip would.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from types import TracebackType

from worker.stack import Stack, WorkerGroup, start_worker

_PUMP_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Kill:
    """One worker killed: seconds after the killer started, which worker, its pid."""

    at: float
    worker: str
    pid: int


class WorkerKiller:
    """Kills a seeded-random worker of `stack` every `every` seconds (a range) and restarts it.

    `groups` must be the groups the stack was started with: the stack starts their processes in
    order, which is how a position in `stack.workers` maps back to its queues and index.
    """

    def __init__(
        self,
        stack: Stack,
        groups: Sequence[WorkerGroup],
        *,
        seed: int,
        every: tuple[float, float] = (2.0, 4.0),
        max_kills: int | None = None,
    ) -> None:
        self._slots = worker_slots(stack, groups)
        self._stack = stack
        self._rng = random.Random(seed)
        self._every = every
        self._max_kills = max_kills
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._failure: BaseException | None = None
        self.kills: list[Kill] = []

    def start(self) -> WorkerKiller:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="worker-killer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[Kill]:
        """Stop killing (a restart in progress completes first); returns every kill made."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60.0)
        if self._failure is not None:
            raise RuntimeError(f"the worker killer failed: {self._failure}") from self._failure
        return list(self.kills)

    def __enter__(self) -> WorkerKiller:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            # The pause between kills is the schedule of the chaos itself, not a wait for a
            # condition; Event.wait ends it early when the killer is stopped.
            while not self._stop.wait(self._rng.uniform(*self._every)):
                self._kill_one()
                if self._max_kills is not None and len(self.kills) >= self._max_kills:
                    return
        except BaseException as exc:  # reported by stop(), in the test's own thread
            self._failure = exc

    def _kill_one(self) -> None:
        position = self._rng.randrange(len(self._slots))
        group, index = self._slots[position]
        victim = self._stack.workers[position]
        if victim.poll() is None:
            os.kill(victim.pid, signal.SIGKILL)
        victim.wait(30.0)
        self.kills.append(
            Kill(round(time.monotonic() - self._started, 2), f"{group.label()}-{index}", victim.pid)
        )
        restart(self._stack, self._slots, position)


def worker_slots(stack: Stack, groups: Sequence[WorkerGroup]) -> list[tuple[WorkerGroup, int]]:
    """(group, index) of each entry of `stack.workers`, in the order the stack started them."""
    slots = [(g, i) for g in groups for i in range(g.processes)]
    if len(slots) != len(stack.workers):
        raise ValueError(
            f"{len(stack.workers)} workers are running but the groups describe {len(slots)}"
        )
    if stack.logs is None:
        raise ValueError("the stack has no log folder for restarted workers")
    return slots


def restart(stack: Stack, slots: Sequence[tuple[WorkerGroup, int]], position: int) -> None:
    """Start the worker at `position` again, under the same name and log file."""
    group, index = slots[position]
    assert stack.logs is not None
    stack.workers[position] = start_worker(group, index, stack.env, stack.logs)


@dataclass(frozen=True, slots=True)
class Exit:
    """A worker that exited by itself: seconds after supervision began, which one, its status."""

    at: float
    worker: str
    status: int


class Supervisor:
    """Restarts every worker of `stack` that exits while supervised; `exits` lists them."""

    def __init__(self, stack: Stack, groups: Sequence[WorkerGroup], *, every: float = 0.2):
        self._slots = worker_slots(stack, groups)
        self._stack = stack
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self.exits: list[Exit] = []

    def __enter__(self) -> Supervisor:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60.0)

    def _run(self) -> None:
        # A process manager looks every so often; Event.wait ends the look-out when stopped.
        while not self._stop.wait(self._every):
            for position, proc in enumerate(self._stack.workers):
                status = proc.poll()
                if status is not None:
                    group, index = self._slots[position]
                    at = round(time.monotonic() - self._started, 2)
                    self.exits.append(Exit(at, f"{group.label()}-{index}", status))
                    restart(self._stack, self._slots, position)


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `upstream`; `cut()` and `restore()` take the link down and up.

    While cut, the port refuses connections and every connection that was open has been reset,
    so a client sees exactly what it would see if the server behind had gone away.
    """

    def __init__(self, upstream: tuple[str, int], port: int = 0) -> None:
        self.upstream = upstream
        self.port = port
        self.connections = 0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def is_up(self) -> bool:
        return self._listener is not None

    def start(self) -> TcpProxy:
        if self._listener is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = int(listener.getsockname()[1])
        self._listener = listener
        self._acceptor = threading.Thread(
            target=self._accept, args=(listener,), name=f"proxy-{self.port}", daemon=True
        )
        self._acceptor.start()
        return self

    restore = start

    def cut(self) -> None:
        """Refuse new connections and reset every open one."""
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown wakes the acceptor blocked in accept(); close alone would not on Linux.
            _quietly(listener.shutdown, socket.SHUT_RDWR)
            listener.close()
        if self._acceptor is not None:
            self._acceptor.join(5.0)
            self._acceptor = None
        with self._lock:
            doomed, self._open = self._open, set()
        for sock in doomed:
            # SO_LINGER 0 sends a reset, as a vanished server's host would.
            _quietly(sock.setsockopt, socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            _quietly(sock.shutdown, socket.SHUT_RDWR)
            sock.close()

    stop = cut

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.upstream, timeout=5.0)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut while connecting
                    client.close()
                    server.close()
                    return
                self._open.update((client, server))
                self.connections += 1
            done = threading.Barrier(2, action=partial(self._close, client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst, done), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, done: threading.Barrier) -> None:
        try:
            while chunk := src.recv(_PUMP_CHUNK):
                dst.sendall(chunk)
        except OSError:
            pass
        # Half-close: the other side sees the end of this direction, as it would directly.
        _quietly(dst.shutdown, socket.SHUT_WR)
        _quietly(done.wait, 30.0)

    def _close(self, *socks: socket.socket) -> None:
        with self._lock:
            self._open.difference_update(socks)
        for sock in socks:
            sock.close()


def _quietly(call: Callable[..., object], *args: object) -> None:
    """Run a socket call whose failure only means the socket is already gone."""
    with contextlib.suppress(OSError, threading.BrokenBarrierError):
        call(*args)
