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
    Window,
    choose_upstream_range,
    exact_range,
    plan_response,
    read_upstream_answer,
    window_in,
)
from media_proxy.ranges import ByteRange, MultipartLayout, multipart_layout
from media_proxy.subtitles import SubtitleError, srt_to_vtt

logger = logging.getLogger(__name__)
stream_logger = logging.getLogger("media_proxy.streams")

VARY = "Cookie, Authorization"


@dataclass(frozen=True)
class MediaObject:
    publisher: str
    book_name: str
    path: str

    @property
    def cache_key(self) -> str:
        digest = hashlib.sha256(f"{self.publisher}\0{self.book_name}\0{self.path}".encode())
        return f"media:info:{digest.hexdigest()[:32]}"


@dataclass(frozen=True)
class ObjectInfo:
    """An object's size and ETag as DCS last reported them (cached for MEDIA_METADATA_TTL)."""

    size: int
    etag: str | None


@dataclass
class OpenSlice:
    """An upstream response and the window of its body the client gets."""

    upstream: UpstreamResponse
    window: Window


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
    outcome: str = "complete"  # complete, client_aborted or upstream_failed

    def __str__(self) -> str:
        fields = {k: v for k, v in vars(self).items() if k != "started"}
        fields["duration_ms"] = round((time.monotonic() - self.started) * 1000, 1)
        fields["client_aborted"] = self.outcome == "client_aborted"
        return json.dumps(fields, ensure_ascii=False)


class UpstreamBodyCut(Exception):
    """DCS ended a body before the bytes it promised: the client connection must be cut."""


class MediaBody:
    """The response iterable: the planned bytes, then the upstream closed whatever happens."""

    def __init__(
        self,
        first: OpenSlice,
        pieces: Sequence[bytes | Callable[[], OpenSlice] | None],
        chunk_size: int,
        record: StreamRecord,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        # `None` in `pieces` marks where the already opened `first` slice goes.
        self._on_close = on_close
        self._first: OpenSlice | None = first
        self._pieces = pieces
        self._chunk_size = chunk_size
        self._record = record
        self._current: UpstreamResponse | None = None
        self._finished = False
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            for piece in self._pieces:
                if isinstance(piece, bytes):
                    self._record.bytes_sent += len(piece)
                    yield piece
                    continue
                opened = self._take_first() if piece is None else piece()
                self._current = opened.upstream
                yield from self._copy(opened)
                self._current = None
            self._finished = True
        except Exception:
            self._record.outcome = "upstream_failed"
            logger.exception("Aborting the client connection for %s", self._record.path)
            raise

    def _take_first(self) -> OpenSlice:
        first, self._first = self._first, None
        assert first is not None
        return first

    def _copy(self, opened: OpenSlice) -> Iterator[bytes]:
        skip, remaining = opened.window.skip, opened.window.length
        for chunk in opened.upstream.iter_body(self._chunk_size):
            if skip:
                if len(chunk) <= skip:
                    skip -= len(chunk)
                    continue
                chunk, skip = chunk[skip:], 0
            if len(chunk) >= remaining:
                chunk, remaining = chunk[:remaining], 0
            else:
                remaining -= len(chunk)
            self._record.bytes_sent += len(chunk)
            yield chunk
            if not remaining:
                break
        if remaining:
            raise UpstreamBodyCut(f"DCS ended the body {remaining} bytes early")
        opened.upstream.release()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for upstream in (self._current, self._first and self._first.upstream):
            if upstream is not None:
                upstream.close()
        if not self._finished and self._record.outcome == "complete":
            self._record.outcome = "client_aborted"
        stream_logger.info("media_stream %s", self._record)
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
            cache.set(obj.cache_key, ObjectInfo(answer.size, answer.etag), self._size_ttl)
            plan = plan_response(request, answer.size, answer.etag, max_parts=self._max_parts)
            record.status = int(plan.status)
            if not plan.has_body or request.method == "HEAD":
                upstream.release()
                return self._headers_only(obj, plan, answer.etag, request.method)
            if not plan.ranges:  # a 0-byte object
                upstream.release()
                return self._headers_only(obj, plan, answer.etag, request.method)
            wanted = plan.ranges[0]
            window = window_in(answer.body, wanted)
            if window is None:
                upstream.release()
                first = self._fetch_exact(obj, wanted, plan.size, answer.etag)
            else:
                first = OpenSlice(upstream, window)
        except BaseException:
            upstream.close()
            raise
        if plan.is_multipart:
            return self._multipart(obj, plan, answer.etag, first, record, on_close)
        response = StreamingHttpResponse(
            MediaBody(first, [None], self._chunk_size, record, on_close), status=plan.status
        )
        self._set_common_headers(response, obj, answer.etag)
        response["Content-Type"] = content_type_for(obj.path)
        response["Content-Length"] = str(wanted.length)
        if plan.status == Status.PARTIAL_CONTENT:
            response["Content-Range"] = wanted.content_range(plan.size)
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
        record.status = int(plan.status)
        if plan.is_multipart:
            return None
        if request.method == "HEAD" or not plan.has_body or not plan.ranges:
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
        stream_logger.info("media_stream %s", record)
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

    def _fetch_exact(
        self, obj: MediaObject, wanted: ByteRange, size: int, etag: str | None
    ) -> OpenSlice:
        """One more upstream request for exactly `wanted`, of the same object version."""
        asked = exact_range(wanted)
        upstream = self._dcs.get_object(obj.publisher, obj.book_name, obj.path, range_header=asked)
        try:
            answer = _read_answer(asked, upstream)
            if answer.size != size or answer.etag != etag:
                raise DCSUnavailable("The object changed in DCS while it was being served.")
            window = window_in(answer.body, wanted)
            if window is None:
                raise DCSUnavailable(f"DCS did not send {asked}.")
        except BaseException:
            upstream.close()
            raise
        return OpenSlice(upstream, window)

    def _multipart(
        self,
        obj: MediaObject,
        plan: ResponsePlan,
        etag: str | None,
        first: OpenSlice,
        record: StreamRecord,
        on_close: Callable[[], None] | None,
    ) -> StreamingHttpResponse:
        """Each part after the first is one more exact DCS request, made when it is reached."""
        layout = _layout(obj, plan)
        pieces: list[bytes | Callable[[], OpenSlice] | None] = []
        for index, part in enumerate(layout.parts):
            pieces.append(part.header)
            pieces.append(
                None
                if index == 0
                else functools.partial(self._fetch_exact, obj, part.range, plan.size, etag)
            )
        pieces.append(layout.closing)
        response = StreamingHttpResponse(
            MediaBody(first, pieces, self._chunk_size, record, on_close), status=plan.status
        )
        self._set_common_headers(response, obj, etag)
        response["Content-Type"] = layout.content_type
        response["Content-Length"] = str(layout.content_length)
        return response

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
                self._set_body_headers(response, obj, plan)
        self._set_common_headers(response, obj, etag)
        if method == "HEAD":
            length = response.get("Content-Length", str(len(response.content)))
            response.content = b""
            response["Content-Length"] = length
        return response

    def _set_body_headers(
        self, response: HttpResponse, obj: MediaObject, plan: ResponsePlan
    ) -> None:
        """What a HEAD says of the body GET would send."""
        if plan.is_multipart:
            layout = _layout(obj, plan)
            response["Content-Type"] = layout.content_type
            response["Content-Length"] = str(layout.content_length)
            return
        response["Content-Type"] = content_type_for(obj.path)
        response["Content-Length"] = str(sum(r.length for r in plan.ranges))
        if plan.status == Status.PARTIAL_CONTENT:
            response["Content-Range"] = plan.ranges[0].content_range(plan.size)

    def _set_common_headers(
        self, response: HttpResponseBase, obj: MediaObject, etag: str | None
    ) -> None:
        response["Accept-Ranges"] = "bytes"
        response["Cache-Control"] = self._cache_control
        response["Vary"] = VARY
        if etag:
            response["ETag"] = etag
        if response.status_code in (200, 206):
            response["Content-Disposition"] = inline_disposition(obj.path)


def _layout(obj: MediaObject, plan: ResponsePlan) -> MultipartLayout:
    return multipart_layout(
        plan.ranges, plan.size, content_type_for(obj.path), secrets.token_hex(16)
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
