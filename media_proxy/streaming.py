"""Serve one object from DCS as the plan says: headers, then streamed bytes.

`MediaResponder.respond` makes the one upstream request `planning` chose,
checks DCS's answer, plans the client's response and returns it. The body is
a `MediaBody`: it relays only the planned bytes, never holds more than one
chunk, aborts the client connection (by raising) when DCS sends fewer bytes
than promised, always closes the upstream response, and writes one log line
per stream when the server closes it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from django.core.cache import cache
from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse

from media_proxy.dcs import DCSClient, DCSUnavailable, UpstreamResponse
from media_proxy.media_types import content_type_for, inline_disposition
from media_proxy.planning import (
    PROBE_RANGE,
    ClientRequest,
    ResponsePlan,
    Status,
    UpstreamAnswer,
    UpstreamMismatch,
    choose_upstream_range,
    exact_range,
    plan_response,
    read_upstream_answer,
    span_to_fetch,
)
from media_proxy.ranges import ByteRange, multipart_layout
from media_proxy.subtitles import SubtitleError, srt_to_vtt

logger = logging.getLogger(__name__)
stream_logger = logging.getLogger("media_proxy.streams")

VARY = "Cookie, Authorization"
# A book may hold .html or .svg: opened directly, it must not run as a page of
# the LMS's origin. Media elements and <img> ignore this header.
CONTENT_SECURITY_POLICY = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'"


@dataclass(frozen=True)
class MediaObject:
    publisher: str
    book_name: str
    path: str

    @functools.cached_property
    def cache_key(self) -> str:
        digest = hashlib.sha256(f"{self.publisher}\0{self.book_name}\0{self.path}".encode())
        return f"media:info:{digest.hexdigest()[:32]}"


@dataclass(frozen=True)
class ObjectInfo:
    """An object's size and ETag as DCS last reported them (cached for MEDIA_METADATA_TTL)."""

    size: int
    etag: str | None


@dataclass
class StreamRecord:
    """The fields of the one log line written per stream."""

    user: int | None
    book: str
    path: str
    method: str
    range: str | None
    status: int = 0
    bytes_sent: int = 0
    upstream_status: int | None = None
    upstream_ttfb_ms: float | None = None
    started: float = field(default_factory=time.monotonic)
    # complete, client_aborted, upstream_failed, offloaded (nginx sends the body) or error
    outcome: str = "complete"

    def log(self) -> None:
        stream_logger.info("media_stream %s", self)

    def __str__(self) -> str:
        fields = {k: v for k, v in vars(self).items() if k != "started"}
        fields["duration_ms"] = round((time.monotonic() - self.started) * 1000, 1)
        fields["client_aborted"] = self.outcome == "client_aborted"
        return json.dumps(fields, ensure_ascii=False)


class UpstreamBodyCut(Exception):
    """DCS ended a body before the bytes it promised: the client connection must be cut."""


class BodyReader:
    """Reads windows, in order, out of one upstream body that carries the bytes `body`."""

    def __init__(self, upstream: UpstreamResponse, body: ByteRange, chunk_size: int) -> None:
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
    not cover costs one more exact DCS request, made when the part is reached.
    """

    def __init__(
        self,
        reader: BodyReader,
        parts: Sequence[tuple[bytes, ByteRange]],
        closing: bytes,
        fetch: Callable[[Sequence[ByteRange]], BodyReader],
        record: StreamRecord,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._reader: BodyReader | None = reader
        self._parts = parts
        self._closing = closing
        self._fetch = fetch
        self._record = record
        self._on_close = on_close
        self._finished = False
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            for index, (header, wanted) in enumerate(self._parts):
                if header:
                    self._record.bytes_sent += len(header)
                    yield header
                if self._reader is None or not self._reader.can_serve(wanted):
                    self._release()
                    self._reader = self._fetch([r for _, r in self._parts[index:]])
                for chunk in self._reader.read(wanted):
                    self._record.bytes_sent += len(chunk)
                    yield chunk
            if self._closing:
                self._record.bytes_sent += len(self._closing)
                yield self._closing
            self._release()
            self._finished = True
        except Exception:
            self._record.outcome = "upstream_failed"
            logger.exception("Aborting the client connection for %s", self._record.path)
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
        if not self._finished and self._record.outcome == "complete":
            self._record.outcome = "client_aborted"
        self._record.log()
        if self._on_close is not None:
            self._on_close()


class MediaResponder:
    def __init__(
        self,
        dcs: DCSClient,
        *,
        chunk_size: int,
        max_age: int,
        max_parts: int,
        size_ttl: int,
        subtitle_max_bytes: int,
        offload_location: str = "/_dcs_object",
    ) -> None:
        self._dcs = dcs
        self._subtitle_max_bytes = subtitle_max_bytes
        self._offload_location = offload_location
        self._cache_control = f"private, max-age={max_age}"
        self._chunk_size = chunk_size
        self._max_parts = max_parts
        self._size_ttl = size_ttl

    def respond(
        self,
        obj: MediaObject,
        request: ClientRequest,
        record: StreamRecord,
        on_close: Callable[[], None] | None = None,
    ) -> HttpResponseBase:
        """Raise DCSError subclasses for upstream failures before any byte is sent."""
        known = cache.get(obj.cache_key)
        asked = choose_upstream_range(
            request, known.size if known else None, max_parts=self._max_parts
        )
        started = time.monotonic()
        upstream = self._dcs.get_object(obj.publisher, obj.book_name, obj.path, range_header=asked)
        record.upstream_ttfb_ms = round((time.monotonic() - started) * 1000, 1)
        record.upstream_status = upstream.status
        try:
            answer = _read_answer(asked, upstream)
            info = ObjectInfo(answer.size, answer.etag)
            if info != known:
                cache.set(obj.cache_key, info, self._size_ttl)
            plan = plan_response(request, answer.size, answer.etag, max_parts=self._max_parts)
            if request.method == "HEAD" or not plan.ranges:  # no body: HEAD, 304/412/416, 0 bytes
                upstream.release()
                return self._headers_only(obj, plan, answer.etag, request.method)
            fetch = functools.partial(self._open_span, obj, plan.size, answer.etag)
            reader = answer.body and BodyReader(upstream, answer.body, self._chunk_size)
            if not reader or not reader.can_serve(plan.ranges[0]):
                upstream.release()
                reader = fetch(plan.ranges)
        except BaseException:
            upstream.close()
            raise
        shape = _body_shape(obj, plan)
        body = MediaBody(reader, shape.parts, shape.closing, fetch, record, on_close)
        response = StreamingHttpResponse(body, status=plan.status)
        self._set_common_headers(response, obj, answer.etag)
        shape.describe(response)
        return response

    def respond_offloaded(
        self, obj: MediaObject, request: ClientRequest, record: StreamRecord
    ) -> HttpResponseBase | None:
        """Decide here, let nginx move the bytes (X-Accel-Redirect); None: stream instead.

        The decision uses the object's cached size and ETag (one DCS probe when
        not cached). nginx asks DCS for exactly the planned range with the token
        in X-Dcs-Authorization, which it consumes and never forwards. Multipart
        answers stay with the streaming mode, which is exact for them.
        """
        info = cache.get(obj.cache_key) or self._probe(obj)
        plan = plan_response(request, info.size, info.etag, max_parts=self._max_parts)
        if plan.is_multipart:
            return None
        if request.method == "HEAD" or not plan.ranges:  # no body: HEAD, 304/412/416, 0 bytes
            return self._headers_only(obj, plan, info.etag, request.method)
        wanted = plan.ranges[0]
        response = HttpResponse(status=plan.status)
        del response["Content-Type"]
        response["X-Accel-Redirect"] = (
            self._offload_location
            + "?"
            + urlencode(
                {"publisher": obj.publisher, "book": obj.book_name, "path": obj.path},
                quote_via=quote,
            )
        )
        response["X-Dcs-Authorization"] = self._dcs.authorization()
        response["X-Dcs-Range"] = exact_range(wanted) if plan.status == 206 else ""
        response["X-Media-Content-Type"] = content_type_for(obj.path)
        response["X-Media-Cache-Control"] = self._cache_control
        response["X-Media-Content-Disposition"] = inline_disposition(obj.path)
        response["X-Media-Vary"] = VARY
        record.outcome = "offloaded"
        return response

    def _probe(self, obj: MediaObject) -> ObjectInfo:
        upstream = self._dcs.get_object(
            obj.publisher, obj.book_name, obj.path, range_header=PROBE_RANGE
        )
        with upstream:
            answer = _read_answer(PROBE_RANGE, upstream)
            upstream.release()
        info = ObjectInfo(answer.size, answer.etag)
        cache.set(obj.cache_key, info, self._size_ttl)
        return info

    def respond_srt_as_vtt(self, obj: MediaObject) -> HttpResponse:
        """An .srt converted to WebVTT for <track>; subtitles are small, so read whole."""
        upstream = self._dcs.get_object(obj.publisher, obj.book_name, obj.path)
        with upstream:
            answer = _read_answer(None, upstream)
            if answer.size > self._subtitle_max_bytes:
                raise DCSUnavailable(f"subtitle of {answer.size} bytes is too large to convert")
            data = b"".join(upstream.iter_body(self._chunk_size))
        if len(data) != answer.size:
            raise DCSUnavailable("DCS ended the subtitle early")
        try:
            vtt = srt_to_vtt(data).encode()
        except SubtitleError as error:
            raise DCSUnavailable(str(error)) from error
        response = HttpResponse(vtt, content_type="text/vtt; charset=utf-8")
        self._set_common_headers(response, obj, None)
        if answer.etag:
            response["ETag"] = f'"{answer.etag.strip(chr(34))}-vtt"'
        response["Content-Disposition"] = inline_disposition(obj.path[:-4] + ".vtt")
        return response

    def _open_span(
        self, obj: MediaObject, size: int, etag: str | None, ranges: Sequence[ByteRange]
    ) -> BodyReader:
        """One more DCS request, for `ranges[0]` or the span of nearby ranges, same version."""
        asked = exact_range(span_to_fetch(ranges))
        upstream = self._dcs.get_object(obj.publisher, obj.book_name, obj.path, range_header=asked)
        try:
            answer = _read_answer(asked, upstream)
            if answer.size != size or answer.etag != etag:
                raise DCSUnavailable("The object changed in DCS while it was being served.")
            assert answer.body is not None  # a 206 to an exact range inside the object
        except BaseException:
            upstream.close()
            raise
        return BodyReader(upstream, answer.body, self._chunk_size)

    def _headers_only(
        self, obj: MediaObject, plan: ResponsePlan, etag: str | None, method: str
    ) -> HttpResponse:
        """304, 412 and 416; and every HEAD (the headers GET would send, no body)."""
        if plan.status == Status.RANGE_NOT_SATISFIABLE:
            response = _json_response(plan.status, "The requested range is not satisfiable.")
            response["Content-Range"] = f"bytes */{plan.size}"
        elif plan.status == Status.PRECONDITION_FAILED:
            response = _json_response(plan.status, "A precondition of the request failed.")
        else:
            response = HttpResponse(status=plan.status)
            if plan.status == Status.NOT_MODIFIED:
                del response["Content-Type"]
            else:
                _body_shape(obj, plan).describe(response)
        self._set_common_headers(response, obj, etag)
        if method == "HEAD":
            length = response.get("Content-Length", str(len(response.content)))
            response.content = b""
            response["Content-Length"] = length
        return response

    def _set_common_headers(
        self, response: HttpResponseBase, obj: MediaObject, etag: str | None
    ) -> None:
        response["Accept-Ranges"] = "bytes"
        response["Cache-Control"] = self._cache_control
        response["Vary"] = VARY
        response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        if etag:
            response["ETag"] = etag
        if response.status_code in (200, 206):
            response["Content-Disposition"] = inline_disposition(obj.path)


@dataclass(frozen=True)
class BodyShape:
    """The body a plan calls for: its parts (each header, then its bytes) and how the
    response describes it. GET streams it; HEAD only describes it."""

    parts: list[tuple[bytes, ByteRange]]
    closing: bytes
    content_type: str
    content_length: int
    content_range: str | None

    def describe(self, response: HttpResponseBase) -> None:
        response["Content-Type"] = self.content_type
        response["Content-Length"] = str(self.content_length)
        if self.content_range:
            response["Content-Range"] = self.content_range


def _body_shape(obj: MediaObject, plan: ResponsePlan) -> BodyShape:
    if plan.is_multipart:
        layout = multipart_layout(
            plan.ranges, plan.size, content_type_for(obj.path), secrets.token_hex(16)
        )
        parts = [(part.header, part.range) for part in layout.parts]
        return BodyShape(parts, layout.closing, layout.content_type, layout.content_length, None)
    content_range = (
        plan.ranges[0].content_range(plan.size) if plan.status == Status.PARTIAL_CONTENT else None
    )
    return BodyShape(
        [(b"", r) for r in plan.ranges],
        b"",
        content_type_for(obj.path),
        sum(r.length for r in plan.ranges),
        content_range,
    )


def _read_answer(asked: str | None, upstream: UpstreamResponse) -> UpstreamAnswer:
    try:
        return read_upstream_answer(
            asked,
            upstream.status,
            upstream.headers.get("Content-Range"),
            upstream.headers.get("Content-Length"),
            upstream.headers.get("ETag"),
        )
    except UpstreamMismatch as error:
        logger.error(
            "DCS answered a request for %s wrongly: %s", asked or "the whole object", error
        )
        raise DCSUnavailable("DCS answered with the wrong bytes.") from error


def _json_response(status: int, detail: str) -> HttpResponse:
    return HttpResponse(
        json.dumps({"detail": detail}), status=status, content_type="application/json"
    )
