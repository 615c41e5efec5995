"""The streamed body of a media response: exactly the planned bytes, never more than a chunk.

`body_shape` lays out what a plan's body carries (each part's header, then its
bytes); `MediaBody` relays it from DCS through a `BodyReader`, asks DCS again
for a part the open upstream body does not cover, cuts the client connection
(by raising) when DCS sends fewer bytes than promised, always closes the
upstream response, and ends its `MediaStream` when the server closes it.

The upstream is anything with `iter_body`, `release` and `close` (a
`dcs.UpstreamResponse` in production, a fake in the unit tests).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from media_proxy.planning import ResponsePlan, Status
from media_proxy.ranges import ByteRange, multipart_layout
from media_proxy.streams import MediaStream, Outcome

# A long play lets its worker's other requests run after each this many bytes.
TURN_BYTES = 256 * 1024

logger = logging.getLogger(__name__)


class Upstream(Protocol):
    def iter_body(self, chunk_size: int) -> Iterator[bytes]: ...
    def release(self) -> None: ...
    def close(self) -> None: ...


class UpstreamBodyCut(Exception):
    """DCS ended a body before the bytes it promised: the client connection must be cut."""


@dataclass(frozen=True)
class BodyShape:
    """The body a plan calls for: its parts (each header, then its bytes) and how the
    response describes it. GET streams it; HEAD and offload only describe it."""

    parts: tuple[tuple[bytes, ByteRange], ...]
    closing: bytes
    content_type: str
    content_length: int
    content_range: str | None


def body_shape(plan: ResponsePlan, content_type: str, boundary: str) -> BodyShape:
    """The shape of a 200 or 206 body; `boundary` is used only by a multipart one."""
    if plan.is_multipart:
        layout = multipart_layout(plan.ranges, plan.size, content_type, boundary)
        parts = tuple((part.header, part.range) for part in layout.parts)
        return BodyShape(parts, layout.closing, layout.content_type, layout.content_length, None)
    content_range = (
        plan.ranges[0].content_range(plan.size) if plan.status == Status.PARTIAL_CONTENT else None
    )
    return BodyShape(
        tuple((b"", r) for r in plan.ranges),
        b"",
        content_type,
        sum(r.length for r in plan.ranges),
        content_range,
    )


class BodyReader:
    """Reads windows, in order, out of one upstream body that carries the bytes `body`."""

    def __init__(self, upstream: Upstream, body: ByteRange, chunk_size: int) -> None:
        self.upstream = upstream
        self.body = body
        self.position = body.start  # the object offset of the next byte off the wire
        self._chunks = upstream.iter_body(chunk_size)
        self._pending = b""

    def can_serve(self, wanted: ByteRange) -> bool:
        return wanted.start >= self.position and wanted.end <= self.body.end

    def read(self, wanted: ByteRange) -> Iterator[bytes]:
        """The bytes of `wanted`, skipping what lies before it; keeps what lies after."""
        skip, remaining = wanted.start - self.position, wanted.length
        while remaining:
            chunk = self._pending or next(self._chunks, b"")
            self._pending = b""
            if not chunk:
                raise UpstreamBodyCut(f"DCS ended the body {remaining} bytes early")
            if skip:
                if len(chunk) <= skip:
                    skip -= len(chunk)
                    continue
                chunk, skip = chunk[skip:], 0
            if len(chunk) > remaining:
                chunk, self._pending = chunk[:remaining], chunk[remaining:]
            remaining -= len(chunk)
            yield chunk
        self.position = wanted.end + 1


class MediaBody:
    """The response iterable: each part's header and bytes, the upstream always closed.

    Parts are read in order from the open upstream body while it covers them
    (a span fetched for several nearby ranges serves them all); a part it does
    not cover costs one more exact DCS request (`fetch`), made when the part is
    reached.
    """

    def __init__(
        self,
        reader: BodyReader,
        shape: BodyShape,
        fetch: Callable[[Sequence[ByteRange]], BodyReader],
        stream: MediaStream,
    ) -> None:
        self._reader: BodyReader | None = reader
        self._shape = shape
        self._fetch = fetch
        self._stream = stream
        self._finished = False
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        record, parts = self._stream.record, self._shape.parts
        since_turn = 0
        try:
            for index, (header, wanted) in enumerate(parts):
                if header:
                    record.bytes_sent += len(header)
                    yield header
                if self._reader is None or not self._reader.can_serve(wanted):
                    self._release()
                    self._reader = self._fetch([r for _, r in parts[index:]])
                for chunk in self._reader.read(wanted):
                    if since_turn >= TURN_BYTES:
                        # Turn-taking: a gevent worker switches only when a socket
                        # would block, which on a fast network a long play never
                        # does; this lets the worker's other requests (seeks, pages)
                        # run between chunks. A short body (a seek) never waits.
                        time.sleep(0)
                        since_turn = 0
                    record.bytes_sent += len(chunk)
                    since_turn += len(chunk)
                    yield chunk
            if self._shape.closing:
                record.bytes_sent += len(self._shape.closing)
                yield self._shape.closing
            self._release()
            self._finished = True
        except Exception:
            record.outcome = Outcome.UPSTREAM_FAILED
            logger.exception("Aborting the client connection for %s", record.path)
            raise

    def _release(self) -> None:
        if self._reader is not None:
            self._reader.upstream.release()
            self._reader = None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._reader is not None:
            self._reader.upstream.close()
        record = self._stream.record
        if not self._finished and record.outcome is Outcome.COMPLETE:
            record.outcome = Outcome.CLIENT_ABORTED
        self._stream.end()
