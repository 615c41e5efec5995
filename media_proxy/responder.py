"""Answer one media request from DCS: which upstream request, the answer's check, the plan,
then stream the body or hand it to nginx.

`MediaResponder.respond` makes the one upstream request `planning` chose,
checks DCS's answer and plans the client's response. In offload mode
`respond_offloaded` decides from the object's cached size and ETag and lets
nginx move the bytes (X-Accel-Redirect). Headers come from
`headers.media_headers`, bodies from `body`.
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from urllib.parse import quote, urlencode

from django.core.cache import cache
from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse

from media_proxy.body import BodyReader, BodyShape, MediaBody, body_shape
from media_proxy.dcs import DCSUnavailable, UpstreamResponse
from media_proxy.dcs.breaker import Ticket
from media_proxy.headers import common_headers, media_headers, offload_headers
from media_proxy.media_types import content_type_for, inline_disposition
from media_proxy.objects import MediaObject, ObjectSource
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
from media_proxy.ranges import ByteRange, RangeSpec
from media_proxy.streams import MediaStream, Outcome
from media_proxy.subtitles import SubtitleError, srt_to_vtt

logger = logging.getLogger(__name__)

NO_BODY_DETAILS = {
    Status.RANGE_NOT_SATISFIABLE: "The requested range is not satisfiable.",
    Status.PRECONDITION_FAILED: "A precondition of the request failed.",
}


@dataclass(frozen=True)
class ObjectInfo:
    """An object's size and ETag as DCS last reported them (cached for MEDIA_METADATA_TTL)."""

    size: int
    etag: str | None


class MediaResponder:
    def __init__(
        self,
        source: ObjectSource,
        *,
        chunk_size: int,
        max_age: int,
        max_parts: int,
        size_ttl: int,
        subtitle_max_bytes: int,
        store_origin: str = "",
    ) -> None:
        self._source = source
        self._store_origin = store_origin  # the object store nginx's template reaches, if any
        self._subtitle_max_bytes = subtitle_max_bytes
        self._cache_control = f"private, max-age={max_age}"
        self._chunk_size = chunk_size
        self._max_parts = max_parts
        self._size_ttl = size_ttl

    def cache_keys(self, obj: MediaObject) -> list[str]:
        """The shared cache entries an answer for `obj` decides on: read them at the
        stream's admission (`MediaStream.cached`), with its counters."""
        return self._source.cache_keys(obj)

    def respond(
        self, obj: MediaObject, request: ClientRequest, stream: MediaStream
    ) -> HttpResponseBase:
        """Raise DCSError subclasses for upstream failures before any byte is sent."""
        ticket, known = self._source.admit(obj, stream.cached)
        asked = choose_upstream_range(
            request, known.size if known else None, max_parts=self._max_parts
        )
        started = time.monotonic()
        upstream = self._get(obj, asked, ticket)
        stream.record.upstream_ttfb_ms = round((time.monotonic() - started) * 1000, 1)
        stream.record.upstream_status = upstream.status
        try:
            answer = self._answer(obj, asked, upstream, known)
            if (info := ObjectInfo(answer.size, answer.etag)) != known:
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
        shape = self._shape(obj, plan)
        body = MediaBody(reader, shape, fetch, stream)
        response = StreamingHttpResponse(body, status=plan.status)
        _set(response, self._headers(obj, plan, answer.etag, shape))
        return response

    def respond_offloaded(
        self, obj: MediaObject, request: ClientRequest, stream: MediaStream
    ) -> HttpResponseBase | None:
        """Decide here, let nginx move the bytes (X-Accel-Redirect); None: stream instead.

        The decision uses the object's cached size and ETag (one DCS probe when
        not cached). nginx asks DCS for exactly the planned range with the token
        in X-Dcs-Authorization, which it consumes and never forwards. Multipart
        answers stay with the streaming mode, which is exact for them.
        """
        cached = self._source.offload_lookup(obj, stream.cached)
        if not cached.dcs_healthy:
            return None  # streaming: the breaker answers 503, or this is its probe
        info = cached.info or self._probe(obj)
        plan = plan_response(request, info.size, info.etag, max_parts=self._max_parts)
        if plan.is_multipart:
            return None
        if request.method == "HEAD" or not plan.ranges:  # no body: HEAD, 304/412/416, 0 bytes
            return self._headers_only(obj, plan, info.etag, request.method)
        headers = self._headers(obj, plan, info.etag, self._shape(obj, plan))
        response = HttpResponse(status=plan.status)
        del response["Content-Type"]
        _set(response, offload_headers(headers))
        target = self._source.store_target(obj, cached.url)
        if target is None:
            query = urlencode(
                {"publisher": obj.publisher, "book": obj.book_name, "path": obj.path},
                quote_via=quote,
            )
            response["X-Accel-Redirect"] = f"/_dcs_object?{query}"
            response["X-Dcs-Authorization"] = self._source.authorization()
        elif target.origin == self._store_origin:
            response["X-Accel-Redirect"] = "/_store_object"
            response["X-Store-Path"] = target.path  # a credential: nginx consumes it
        else:
            return None  # nginx was not set up for this store: stream it
        is_partial = plan.status == Status.PARTIAL_CONTENT
        response["X-Dcs-Range"] = exact_range(plan.ranges[0]).header() if is_partial else ""
        # nginx's per-user stream cap counts this body (it consumes the header).
        response["X-Media-User"] = str(stream.record.user)
        stream.record.outcome = Outcome.OFFLOADED
        return response

    def respond_srt_as_vtt(self, obj: MediaObject) -> HttpResponse:
        """An .srt converted to WebVTT for <track>; subtitles are small, so read whole.

        Raises SubtitleError when the file is too large or not SRT.
        """
        with self._get(obj, None) as upstream:
            answer = _read_answer(None, upstream)
            if answer.size > self._subtitle_max_bytes:
                raise SubtitleError(f"The subtitle file is too large to convert ({answer.size} B).")
            data = b"".join(upstream.iter_body(self._chunk_size))
        if len(data) != answer.size:
            raise DCSUnavailable("DCS ended the subtitle early")
        response = HttpResponse(srt_to_vtt(data).encode(), content_type="text/vtt; charset=utf-8")
        etag = f'"{answer.etag.strip(chr(34))}-vtt"' if answer.etag else None
        _set(response, common_headers(etag, self._cache_control, response["Content-Type"]))
        response["Content-Disposition"] = inline_disposition(obj.path[:-4] + ".vtt")
        return response

    def _get(
        self, obj: MediaObject, asked: RangeSpec | None, ticket: Ticket | None = None
    ) -> UpstreamResponse:
        return self._source.open(obj, asked.header() if asked is not None else None, ticket)

    def _answer(
        self,
        obj: MediaObject,
        asked: RangeSpec | None,
        upstream: UpstreamResponse,
        known: ObjectInfo | None,
    ) -> UpstreamAnswer:
        """DCS's answer, checked, with the object's ETag whatever the answer's status."""
        answer = _read_answer(asked, upstream)
        if answer.etag is not None or upstream.status != 416:
            return answer
        # DCS's 416 carries no ETag: the one cached for this size, else ask once for it.
        upstream.release()
        if known is not None and known.size == answer.size and known.etag:
            return replace(answer, etag=known.etag)
        learn = PROBE_RANGE if answer.size else None  # a 0-byte object 416s every Range
        with self._get(obj, learn) as again:
            learned = _read_answer(learn, again)
            again.release()
        if learned.size != answer.size:
            raise DCSUnavailable("The object changed in DCS while it was being served.")
        return replace(answer, etag=learned.etag)

    def _probe(self, obj: MediaObject) -> ObjectInfo:
        with self._get(obj, PROBE_RANGE) as upstream:
            answer = self._answer(obj, PROBE_RANGE, upstream, None)
            upstream.release()
        info = ObjectInfo(answer.size, answer.etag)
        cache.set(obj.cache_key, info, self._size_ttl)
        return info

    def _open_span(
        self, obj: MediaObject, size: int, etag: str | None, ranges: Sequence[ByteRange]
    ) -> BodyReader:
        """One more DCS request, for `ranges[0]` or the span of nearby ranges, same version."""
        asked = exact_range(span_to_fetch(ranges))
        upstream = self._get(obj, asked)
        try:
            answer = _read_answer(asked, upstream)
            if answer.size != size or answer.etag != etag:
                raise DCSUnavailable("The object changed in DCS while it was being served.")
            assert answer.body is not None  # a 206 to an exact range inside the object
        except BaseException:
            upstream.close()
            raise
        return BodyReader(upstream, answer.body, self._chunk_size)

    def _headers(
        self, obj: MediaObject, plan: ResponsePlan, etag: str | None, shape: BodyShape | None
    ) -> dict[str, str]:
        return media_headers(plan, obj.path, etag, shape, cache_control=self._cache_control)

    def _shape(self, obj: MediaObject, plan: ResponsePlan) -> BodyShape:
        boundary = secrets.token_hex(16) if plan.is_multipart else ""
        return body_shape(plan, content_type_for(obj.path), boundary)

    def _headers_only(
        self, obj: MediaObject, plan: ResponsePlan, etag: str | None, method: str
    ) -> HttpResponse:
        """304, 412 and 416; and every HEAD (the headers GET would send, no body)."""
        shape = self._shape(obj, plan) if plan.has_body else None
        if plan.status in NO_BODY_DETAILS:
            response = _json_response(plan.status, NO_BODY_DETAILS[plan.status])
        else:
            response = HttpResponse(status=plan.status)
            del response["Content-Type"]
        _set(response, self._headers(obj, plan, etag, shape))
        if plan.status == Status.NOT_MODIFIED:  # RFC 9110 8.6: the 200's length, never 0
            response["Content-Length"] = str(plan.size)
        if method == "HEAD":
            length = response.get("Content-Length", str(len(response.content)))
            response.content = b""
            response["Content-Length"] = length
        return response


def _set(response: HttpResponseBase, headers: dict[str, str]) -> None:
    for name, value in headers.items():
        response[name] = value


def _read_answer(asked: RangeSpec | None, upstream: UpstreamResponse) -> UpstreamAnswer:
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
            "DCS answered a request for %s wrongly: %s",
            asked.header() if asked is not None else "the whole object",
            error,
        )
        raise DCSUnavailable("DCS answered with the wrong bytes.") from error


def _json_response(status: int, detail: str) -> HttpResponse:
    return HttpResponse(
        json.dumps({"detail": detail}), status=status, content_type="application/json"
    )
