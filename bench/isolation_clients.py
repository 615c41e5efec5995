"""Figure 8's clients: paused and slow players, and media requests while DCS hangs,
each set in a forked process of its own (asyncio over raw sockets, so thousands of
connections cost one thread). The probes are bench/watch.py's, in the bench process.

The players never share a process (or a GIL) with the probes, so a probe's latency is
the server's, not the client's. Every time is `time.monotonic()`, which is one clock
for all processes of the machine.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from bench.clients import CheckFailed, error_name
from bench.results import MediaAnswer

SLOW_BURST = 0.5  # seconds of reading a slow player may catch up at once
MSS = 1448  # a media request's while DCS hangs (players: PlayersSpec.mss)


def request_bytes(port: int, path: str, headers: dict[str, str]) -> bytes:
    """One HTTP/1.1 GET, the connection closed after it."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return "\r\n".join([*lines, "Connection: close", "", ""]).encode()


def raise_fd_limit() -> None:
    """As many descriptors as this process may have: 2,000 players need 2,000 sockets."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _player_socket(mss: int, rcvbuf: int | None) -> socket.socket:
    """A non-blocking socket shaped like a player's on a real network: MSS 1448 (loopback's
    is 64 KiB), and for a paused player a small receive buffer, both set before connect."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    return sock


async def _send_and_read_status(
    sock: socket.socket, port: int, request: bytes, timeout: float
) -> tuple[str, int]:
    """Connect, send, read until the status line is in: (status code, bytes read)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        await loop.sock_connect(sock, ("127.0.0.1", port))
        await loop.sock_sendall(sock, request)
        head = b""
        while b"\r\n" not in head:
            piece = await loop.sock_recv(sock, 4096)
            if not piece:
                raise CheckFailed("closed before the status line")
            head += piece
    return head.split(b" ", 2)[1].decode(), len(head)


def failure_name(error: BaseException) -> str:
    return "timeout" if isinstance(error, TimeoutError) else error_name(error)


# --- paused and slow players -------------------------------------------------------------


@dataclass(frozen=True)
class PlayersSpec:
    port: int
    requests: list[bytes]  # player i sends requests[i % len]: one reader each
    paused: int
    slow: int
    batch: int  # paused players opened at once ...
    batch_pause: float  # ... every this many seconds
    rcvbuf: int  # a paused player's SO_RCVBUF
    mss: int
    slow_rate: int  # bytes per second each slow player reads
    head_timeout: float  # for a status line


class SlowPlayer:
    """Reads its stream at `rate` bytes per second (a token bucket of SLOW_BURST seconds)."""

    def __init__(self, spec: PlayersSpec, index: int) -> None:
        self.spec, self.index = spec, index
        self.received = 0
        self.status = ""
        self.sock = _player_socket(spec.mss, None)

    async def run(self) -> None:
        spec, loop = self.spec, asyncio.get_running_loop()
        request = spec.requests[self.index % len(spec.requests)]
        try:
            self.status, self.received = await _send_and_read_status(
                self.sock, spec.port, request, spec.head_timeout
            )
            allowed, last = 0.0, loop.time()
            while True:
                now = loop.time()
                allowed = min(allowed + (now - last) * spec.slow_rate, spec.slow_rate * SLOW_BURST)
                last = now
                if allowed < 1024:
                    await asyncio.sleep((1024 - allowed) / spec.slow_rate)
                    continue
                piece = await loop.sock_recv(self.sock, int(allowed))
                if not piece:
                    return
                allowed -= len(piece)
                self.received += len(piece)
        except (OSError, CheckFailed) as error:
            self.status = self.status or failure_name(error)


async def _paused_player(spec: PlayersSpec, index: int) -> tuple[str, socket.socket]:
    """Ask for the file, read the status line, then never read again (the socket is kept)."""
    sock = _player_socket(spec.mss, spec.rcvbuf)
    request = spec.requests[index % len(spec.requests)]
    try:
        status, _ = await _send_and_read_status(sock, spec.port, request, spec.head_timeout)
        return status, sock
    except (OSError, CheckFailed) as error:
        return failure_name(error), sock


async def _open_paused(spec: PlayersSpec) -> tuple[list[tuple[str, socket.socket]], float]:
    """`batch` paused players every `batch_pause` seconds; each one's status, and how long
    opening them all took."""
    started, tasks = time.monotonic(), []
    for first in range(0, spec.paused, spec.batch):
        count = min(spec.batch, spec.paused - first)
        tasks += [asyncio.create_task(_paused_player(spec, first + i)) for i in range(count)]
        await asyncio.sleep(spec.batch_pause)
    paused = await asyncio.gather(*tasks)
    return paused, time.monotonic() - started


async def _rates_over(players: list[SlowPlayer], start: float, end: float) -> list[float]:
    """KiB/s each slow player read between the monotonic times `start` and `end`."""
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    began, before = time.monotonic(), [player.received for player in players]
    await asyncio.sleep(max(0.0, end - time.monotonic()))
    elapsed = time.monotonic() - began
    return [(p.received - b) / elapsed / 1024 for p, b in zip(players, before, strict=True)]


async def _players(spec: PlayersSpec, pipe) -> None:
    loop = asyncio.get_running_loop()
    paused, opened_seconds = await _open_paused(spec)
    pipe.send(("paused", dict(Counter(status for status, _ in paused)), opened_seconds))
    slow = [SlowPlayer(spec, spec.paused + i) for i in range(spec.slow)]
    readers = [asyncio.create_task(player.run()) for player in slow]
    async with asyncio.timeout(spec.head_timeout):
        while not all(player.status for player in slow):
            await asyncio.sleep(0.1)
    pipe.send(("slow", dict(Counter(player.status for player in slow))))
    start, end = await loop.run_in_executor(None, pipe.recv)  # the probes' window
    pipe.send(("rates", await _rates_over(slow, start, end)))
    await loop.run_in_executor(None, pipe.recv)  # the parent has counted what it holds
    for reader in readers:
        reader.cancel()
    for sock in [sock for _, sock in paused] + [player.sock for player in slow]:
        sock.close()


def _child(run: Callable, spec, pipe) -> None:
    """A forked client process: Ctrl-C is the parent's business, SIGTERM ends it."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_fd_limit()
    try:
        asyncio.run(run(spec, pipe))
    except BaseException as error:
        pipe.send(("error", f"{type(error).__name__}: {error}"))
        raise
    finally:
        pipe.close()


class ClientProcess:
    """One forked client process and the parent's end of its pipe."""

    def __init__(self, run: Callable, spec) -> None:
        context = multiprocessing.get_context("fork")
        self.pipe, child_end = context.Pipe()
        self.process = context.Process(target=_child, args=(run, spec, child_end), daemon=True)
        self.process.start()
        child_end.close()

    def receive(self, timeout: float) -> tuple:
        if not self.pipe.poll(timeout):
            raise RuntimeError(f"a figure 8 client process said nothing for {timeout:.0f} s")
        try:
            message = self.pipe.recv()
        except EOFError:
            raise RuntimeError("a figure 8 client process ended without a word") from None
        if message[0] == "error":
            raise RuntimeError(f"a figure 8 client process failed: {message[1]}")
        return message

    def stop(self) -> None:
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)
        self.pipe.close()


def start_players(spec: PlayersSpec) -> ClientProcess:
    return ClientProcess(_players, spec)


# --- media requests while DCS hangs ----------------------------------------------------


@dataclass(frozen=True)
class HungSpec:
    port: int
    requests: list[bytes]
    rate: float  # media requests per second, each on a new connection
    emulator_port: int  # the DCS whose hang_all switch is thrown
    open_seconds: float  # DCS stays hung this long after the first 503 ...
    max_hung: float  # ... or this long in all when no 503 comes
    max_recovery: float  # after clearing: until the first 200, at most this long
    answer_timeout: float  # a media request without its status line by then: "timeout"


def _set_hang(port: int, on: bool) -> None:
    from bench.servers import emulator_call

    emulator_call(port, "faults", "POST", {"hang_all": on})


async def _media_request(spec: HungSpec, index: int, began: float) -> MediaAnswer:
    sent = time.monotonic()
    sock = _player_socket(MSS, None)
    request = spec.requests[index % len(spec.requests)]
    try:
        status, _ = await _send_and_read_status(sock, spec.port, request, spec.answer_timeout)
    except (OSError, CheckFailed) as error:
        status = failure_name(error)
    finally:
        sock.close()
    return MediaAnswer(sent - began, time.monotonic() - sent, status)


class HungRun:
    """A steady stream of media requests, and the hang switch thrown on and off."""

    def __init__(self, spec: HungSpec) -> None:
        self.spec = spec
        self.answers: list[MediaAnswer] = []
        self.tasks: set[asyncio.Task] = set()
        self.began = 0.0

    async def fire(self) -> None:
        for index in range(1_000_000):
            await asyncio.sleep(max(0.0, self.began + index / self.spec.rate - time.monotonic()))
            task = asyncio.create_task(_media_request(self.spec, index, self.began))
            task.add_done_callback(self._answered)
            self.tasks.add(task)

    def _answered(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        self.answers.append(task.result())

    async def until(self, found: Callable[[MediaAnswer], bool], deadline: float) -> None:
        while time.monotonic() < deadline and not any(found(a) for a in self.answers):
            await asyncio.sleep(0.05)

    async def run(self) -> float:
        """Hang DCS, fire, clear it once the breaker answered for `open_seconds`; fire on
        until a request sent after the clear succeeds. When it was cleared (seconds)."""
        spec = self.spec
        await asyncio.to_thread(_set_hang, spec.emulator_port, True)
        self.began = time.monotonic()
        firing = asyncio.create_task(self.fire())
        await self.until(lambda a: a.status == "503", self.began + spec.max_hung)
        await asyncio.sleep(min(spec.open_seconds, self.began + spec.max_hung - time.monotonic()))
        await asyncio.to_thread(_set_hang, spec.emulator_port, False)
        cleared = time.monotonic() - self.began
        deadline = self.began + cleared + spec.max_recovery
        await self.until(lambda a: a.sent >= cleared and a.status in ("200", "206"), deadline)
        firing.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=spec.answer_timeout + 1)
        return cleared


async def _hung(spec: HungSpec, pipe) -> None:
    run = HungRun(spec)
    try:
        cleared = await run.run()
    finally:
        await asyncio.to_thread(_set_hang, spec.emulator_port, False)
    pipe.send(("answers", run.answers, cleared))


def start_hung(spec: HungSpec) -> ClientProcess:
    return ClientProcess(_hung, spec)
