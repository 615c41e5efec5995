"""DCS's Range handling, which is deliberately *not* RFC 9110 compliant.

Only the first range of the header is looked at, the end is never clamped,
and anything the pattern does not match at the start of the header is a 416.
See docs/dcs-contract.md, "Range handling".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RANGE_PATTERN = re.compile(r"bytes=(\d*)-(\d*)")

INVALID_FORMAT = "Invalid Range header format"
NOT_SATISFIABLE = "Requested range not satisfiable"


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range, as in ``Content-Range: bytes start-end/size``."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class RangeNotSatisfiable(Exception):
    """DCS answers 416 with ``Content-Range: bytes */size`` and this detail."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def resolve_range(header: str | None, size: int) -> ByteRange | None:
    """Return the range DCS serves for ``header`` on an object of ``size`` bytes.

    ``None`` means "no range": a 200 with the whole object. Raises
    :class:`RangeNotSatisfiable` for every case DCS answers with a 416.
    """
    if header is None or not header.strip():
        return None
    match = RANGE_PATTERN.match(header)
    if match is None:
        raise RangeNotSatisfiable(INVALID_FORMAT)
    if size == 0:
        raise RangeNotSatisfiable(NOT_SATISFIABLE)
    first, last = match.groups()
    if not first and not last:
        raise RangeNotSatisfiable(NOT_SATISFIABLE)
    if not first:
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable(NOT_SATISFIABLE)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if start > end or start >= size or end >= size:
        raise RangeNotSatisfiable(NOT_SATISFIABLE)
    return ByteRange(start, end)
