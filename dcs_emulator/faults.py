"""Switchable misbehaviour, for testing how clients cope with a bad DCS."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass
class Faults:
    """Every switch is off by default. The first six apply to object GETs
    (``/storage/books/.../object``), ``token_lifetime`` to logins; the store
    switches to every request that reads the object store (objects, listings,
    presigned URLs); ``hang_all`` to every DCS request.

    Tests set attributes directly; a request reads a snapshot when it starts
    (``hang_all`` is read live, so clearing it releases the waiting requests).
    """

    #: answer 200 with the whole object even when a Range is sent
    ignore_range: bool = False
    #: send full headers, then only K body bytes, then close the TCP connection
    cut_after_bytes: int | None = None
    #: sleep this many seconds before the status line
    stall_before_headers: float = 0.0
    #: (K, S): after K body bytes, sleep S seconds, then go on
    stall_after_bytes: tuple[int, float] | None = None
    #: answer object requests (after auth and path checks) with this status
    status: int | None = None
    #: on a 206, send a Content-Range shifted by one byte; the body stays true
    wrong_content_range: bool = False
    #: lifetime in seconds of tokens issued from now on (None: the server's).
    #: Like DCS's, ``iat``/``exp`` are whole seconds (``exp = int(now + lifetime)``),
    #: so a 1-second token dies at the next second boundary (valid for 0-1 s) and
    #: 0 gives tokens that are already expired.
    token_lifetime: float | None = None
    #: the object store is unreachable: each store read waits ``store_down_delay``
    #: seconds (DCS's storage client retrying), then answers a plain-text 500
    #: and closes the connection. Logins still work.
    store_down: bool = False
    #: how long a store read waits before failing when ``store_down`` is on
    store_down_delay: float = 6.0
    #: seconds every store read takes (DCS makes three store requests per object read)
    store_latency: float = 0.0
    #: a store read blocks DCS's event loop: while one request waits on the store
    #: (``store_latency``, ``store_down``), every other DCS request stalls too
    store_blocks_loop: bool = False
    #: every DCS request is read and then never answered, until this is cleared
    hang_all: bool = False

    def reset(self) -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, field.default)

    def snapshot(self) -> Faults:
        return dataclasses.replace(self)

    def as_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        if self.stall_after_bytes is not None:
            values["stall_after_bytes"] = list(self.stall_after_bytes)
        return values

    def update(self, values: Mapping[str, Any]) -> None:
        """Set fields from JSON-like values; ValueError (and nothing set) if one is wrong."""
        parsed = {name: _parse(name, value) for name, value in values.items()}
        for name, value in parsed.items():
            setattr(self, name, value)


BOOLEAN_SWITCHES = frozenset({"store_down", "store_blocks_loop", "hang_all"})


def _parse(name: str, value: Any) -> Any:
    if name in {"ignore_range", "wrong_content_range", *BOOLEAN_SWITCHES}:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be a boolean")
        return value
    if name in {"cut_after_bytes", "status"}:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer or null")
        return value
    if name in {"stall_before_headers", "store_down_delay", "store_latency"}:
        return _seconds(name, value)
    if name == "token_lifetime":
        return None if value is None else _seconds(name, value)
    if name == "stall_after_bytes":
        if value is None:
            return None
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ValueError("stall_after_bytes must be [bytes, seconds] or null")
        count, seconds = value
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError("stall_after_bytes[0] must be a non-negative integer")
        return (count, _seconds(name, seconds))
    raise ValueError(f"unknown fault {name!r}")


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a non-negative number of seconds")
    return float(value)
