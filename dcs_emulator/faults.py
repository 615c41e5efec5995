"""Switchable misbehaviour, for testing how clients cope with a bad DCS."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass
class Faults:
    """Every switch is off by default. They apply to object GETs
    (``/storage/books/.../object``) except ``token_lifetime`` (logins).

    Tests set attributes directly; a request reads a snapshot when it starts.
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


def _parse(name: str, value: Any) -> Any:
    if name in {"ignore_range", "wrong_content_range"}:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be a boolean")
        return value
    if name in {"cut_after_bytes", "status"}:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer or null")
        return value
    if name == "stall_before_headers":
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
