"""Concurrent load: forked client processes, one keep-alive connection per client thread.

Each client process has its own GIL; every client checks every byte it receives
against the file's content.
"""

from __future__ import annotations

import http.client
import multiprocessing
import random
import signal
import threading
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field

from bench.clients import RANGE_LENGTH, TIMEOUT, CheckFailed, check_range, error_name, timed_get

READ_PIECE = 1024 * 1024


@dataclass(frozen=True)
class Credential:
    """What one reader adds to every request: headers (a bearer token, a session
    cookie) or a query string (a signed link)."""

    headers: tuple[tuple[str, str], ...] = ()
    query: str = ""


@dataclass
class LoadSpec:
    port: int
    headers: dict[str, str]
    path: str
    # "media": 64 KiB random ranges (+ full plays); "plain": GET, expect 200;
    # "decision": a 64 KiB range from an offload-mode gunicorn without nginx in
    # front: expect its 206 with X-Accel-Redirect and no body (Django's work only)
    kind: str
    content: bytes | None = None  # the file's bytes, for "media"
    full_every: int = 0  # every n-th operation of a client plays the whole file (0: never)
    start_at: float = 0.0  # time.monotonic() values, shared by all processes
    end_at: float = 0.0
    credentials: list[Credential] | None = None  # client i uses credentials[i]: one user each


@dataclass
class LoadResult:
    ops: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    bytes: int = 0
    aborted_at_deadline: int = 0
    ttfb: dict[str, array] = field(default_factory=dict)
    finished_at: float = 0.0

    def merge(self, other: LoadResult) -> None:
        self.ops.update(other.ops)
        self.errors.update(other.errors)
        self.bytes += other.bytes
        self.aborted_at_deadline += other.aborted_at_deadline
        for kind, values in other.ttfb.items():
            self.ttfb.setdefault(kind, array("d")).extend(values)
        self.finished_at = max(self.finished_at, other.finished_at)

    def all_ttfb(self) -> list[float]:
        return [value for values in self.ttfb.values() for value in values]


class _Client:
    def __init__(self, spec: LoadSpec, index: int, result: LoadResult, lock: threading.Lock):
        self.spec = spec
        self.index = index
        self.rng = random.Random(index * 7919 + spec.port)
        self.result = result
        self.lock = lock
        self.conn: http.client.HTTPConnection | None = None
        self.local = LoadResult()
        self.headers = dict(spec.headers)
        self.path = spec.path
        if spec.credentials:
            credential = spec.credentials[index % len(spec.credentials)]
            self.headers.update(credential.headers)
            self.path += credential.query

    def run(self) -> None:
        spec = self.spec
        delay = spec.start_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        operation = self.index  # staggers the full plays between clients
        while time.monotonic() < spec.end_at:
            operation += 1
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", spec.port, timeout=TIMEOUT)
            try:
                if spec.kind == "plain":
                    self._plain()
                elif spec.kind == "decision":
                    self._decision()
                elif spec.full_every and operation % spec.full_every == 0:
                    self._full_play()
                else:
                    self._range()
            except (CheckFailed, OSError, http.client.HTTPException) as error:
                self.local.errors[error_name(error)] += 1
                self._drop_connection()
        self._drop_connection()
        self.local.finished_at = time.monotonic()
        with self.lock:
            self.result.merge(self.local)

    def _drop_connection(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _record(self, kind: str, ttfb: float, received: int) -> None:
        self.local.ops[kind] += 1
        self.local.ttfb.setdefault(kind, array("d")).append(ttfb)
        self.local.bytes += received

    def _plain(self) -> None:
        response, ttfb = timed_get(self.conn, self.path, self.headers)
        body = response.read()
        if response.status != 200:
            raise CheckFailed(f"status {response.status}")
        self._record("plain", ttfb, len(body))

    def _decision(self) -> None:
        start = self.rng.randrange(0, len(self.spec.content) - RANGE_LENGTH + 1)
        headers = {**self.headers, "Range": f"bytes={start}-{start + RANGE_LENGTH - 1}"}
        response, ttfb = timed_get(self.conn, self.path, headers)
        response.read()
        if response.status != 206 or not response.getheader("X-Accel-Redirect"):
            raise CheckFailed(f"status {response.status}, no X-Accel-Redirect")
        self._record("range", ttfb, 0)

    def _range(self) -> None:
        content = self.spec.content
        start = self.rng.randrange(0, len(content) - RANGE_LENGTH + 1)
        last = start + RANGE_LENGTH - 1
        headers = {**self.headers, "Range": f"bytes={start}-{last}"}
        response, ttfb = timed_get(self.conn, self.path, headers)
        body = response.read()
        check_range(response, body, content, start, last)
        self._record("range", ttfb, len(body))

    def _full_play(self) -> None:
        content = self.spec.content
        response, ttfb = timed_get(self.conn, self.path, self.headers)
        if response.status != 200:
            response.read()
            raise CheckFailed(f"status {response.status}")
        if response.length != len(content):
            raise CheckFailed(f"Content-Length {response.length}")
        offset = 0
        while offset < len(content):
            piece = response.read(min(READ_PIECE, len(content) - offset))
            if not piece:
                raise CheckFailed("short read")
            if piece != content[offset : offset + len(piece)]:
                raise CheckFailed("byte mismatch")
            offset += len(piece)
            self.local.bytes += len(piece)
            if offset < len(content) and time.monotonic() >= self.spec.end_at:
                self.local.aborted_at_deadline += 1  # not an error: the run is over
                self._drop_connection()
                return
        self.local.ops["full"] += 1
        self.local.ttfb.setdefault("full", array("d")).append(ttfb)


def _client_process(spec: LoadSpec, first_index: int, threads: int, pipe) -> None:
    # The parent stops this process (SIGTERM) when it is interrupted; Ctrl-C is its business.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    result, lock = LoadResult(), threading.Lock()
    workers = [
        threading.Thread(target=_Client(spec, first_index + i, result, lock).run, daemon=True)
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=max(1.0, spec.end_at - time.monotonic()) + 2 * TIMEOUT)
    pipe.send(result)
    pipe.close()


def run_load(spec: LoadSpec, clients: int, processes: int = 2) -> tuple[LoadResult, float]:
    """`clients` threads spread over forked processes; (merged result, elapsed seconds)."""
    context = multiprocessing.get_context("fork")
    started, pipes, finished = [], [], False
    per_process = [clients // processes + (i < clients % processes) for i in range(processes)]
    try:
        first = 0
        for count in per_process:
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=_client_process, args=(spec, first, count, sender), daemon=True
            )
            process.start()
            sender.close()
            started.append(process)
            pipes.append(receiver)
            first += count
        merged = LoadResult()
        for receiver in pipes:
            wait = max(1.0, spec.end_at - time.monotonic()) + 3 * TIMEOUT
            if not receiver.poll(wait):
                raise RuntimeError("a load client process did not report in time")
            merged.merge(receiver.recv())
        finished = True
        return merged, merged.finished_at - spec.start_at
    finally:
        for process in started:
            if finished:
                process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
