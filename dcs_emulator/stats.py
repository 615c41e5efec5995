"""What the emulator saw: counters and a log of requests (control endpoints excluded)."""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from requests.structures import CaseInsensitiveDict

MAX_RECORDS = 100_000


@dataclass
class RequestRecord:
    """One DCS request as received, completed as its response goes out."""

    method: str
    path: str  # decoded, without the query string
    query_string: str  # raw, as received
    query: dict[str, str]  # decoded; the last value wins, as in DCS
    headers: CaseInsensitiveDict[str]
    started_at: float  # time.time()
    client: str  # "host:port"
    connection_id: int  # one number per TCP connection
    status: int | None = None
    bytes_sent: int = 0  # body bytes handed to the server for this response
    finished_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query_string": self.query_string,
            "query": self.query,
            "headers": dict(self.headers),
            "started_at": self.started_at,
            "client": self.client,
            "connection_id": self.connection_id,
            "status": self.status,
            "bytes_sent": self.bytes_sent,
            "finished_at": self.finished_at,
        }


@dataclass
class ConnectionInfo:
    """One accepted TCP connection."""

    id: int
    peer: str
    generation: int  # the Stats generation it was accepted in
    counted: bool = False
    requests: int = 0  # responses completed on it


@dataclass
class _Counters:
    requests: int = 0
    connections_opened: int = 0
    tcp_accepts: int = 0
    logins: int = 0
    object_requests: int = 0
    listing_requests: int = 0
    presigned_requests: int = 0
    #: connections the emulator closed after a 304 / a 500, as uvicorn does
    closes_after_304: int = 0
    closes_after_500: int = 0
    #: keep-alive connections closed for sitting idle longer than the idle timeout
    idle_closes: int = 0


class Stats:
    """Thread-safe counters.

    ``connections_opened`` counts the TCP connections accepted since the last
    reset that carried at least one DCS request, so connections used only for
    the control endpoints (``/_emulator/...``) are left out. ``tcp_accepts``
    counts every accept since the last reset, whatever came over it.
    ``closes_after_304``/``closes_after_500`` count the connections the server
    closed after such an answer, ``idle_closes`` those it closed for idling.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._generation = 0
        self._counters = _Counters()
        self._records: deque[RequestRecord] = deque(maxlen=MAX_RECORDS)

    # --- read side -------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    @property
    def request_count(self) -> int:
        return self._counters.requests

    @property
    def connections_opened(self) -> int:
        return self._counters.connections_opened

    @property
    def tcp_accepts(self) -> int:
        return self._counters.tcp_accepts

    @property
    def logins(self) -> int:
        return self._counters.logins

    @property
    def object_requests(self) -> int:
        return self._counters.object_requests

    @property
    def listing_requests(self) -> int:
        return self._counters.listing_requests

    @property
    def presigned_requests(self) -> int:
        return self._counters.presigned_requests

    @property
    def closes_after_304(self) -> int:
        return self._counters.closes_after_304

    @property
    def closes_after_500(self) -> int:
        return self._counters.closes_after_500

    @property
    def idle_closes(self) -> int:
        return self._counters.idle_closes

    def snapshot(self, last: int = 200) -> dict[str, Any]:
        with self._lock:
            counters = dict(self._counters.__dict__)
            records = list(self._records)[-last:] if last else []
        return {**counters, "records": [record.as_dict() for record in records]}

    # --- write side ------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._generation += 1
            self._counters = _Counters()
            self._records.clear()

    def connection_accepted(self, peer: str) -> ConnectionInfo:
        with self._lock:
            self._counters.tcp_accepts += 1
            return ConnectionInfo(id=next(self._ids), peer=peer, generation=self._generation)

    def request_started(self, record: RequestRecord, connection: ConnectionInfo | None) -> None:
        with self._lock:
            self._counters.requests += 1
            self._records.append(record)
            if (
                connection is not None
                and not connection.counted
                and connection.generation == self._generation
            ):
                connection.counted = True
                self._counters.connections_opened += 1

    def count(self, counter: str) -> None:
        with self._lock:
            setattr(self._counters, counter, getattr(self._counters, counter) + 1)


__all__ = ["ConnectionInfo", "RequestRecord", "Stats"]
