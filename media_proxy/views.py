"""The media API: thin views that authenticate, authorize, validate, then hand over."""

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from django.conf import settings
from django.db import connections
from django.http import HttpResponseBase
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import APIException, NotFound, ParseError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from books.access import get_readable_book
from media_proxy.authentication import BearerTokenAuthentication, SignedLinkAuthentication
from media_proxy.dcs import (
    CircuitOpen,
    DCSError,
    DCSNotFound,
    DCSTimeout,
    DCSUnavailable,
    UnservableName,
    get_breaker,
    get_dcs_client,
)
from media_proxy.dcs.store import ObjectStoreClient
from media_proxy.negotiation import AlwaysJSON
from media_proxy.objects import MediaObject, ObjectSource
from media_proxy.paths import InvalidPath, validate_asset_path
from media_proxy.permissions import SignedLinkScope
from media_proxy.planning import ClientRequest
from media_proxy.ranges import parse_range_header
from media_proxy.responder import MediaResponder
from media_proxy.signing import QUERY_PARAM, sign_link
from media_proxy.streams import (
    MediaBusy,
    MediaStream,
    StreamRecord,
    open_stream,
    prepare_to_stream,
)
from media_proxy.subtitles import SubtitleError
from media_proxy.throttling import MediaRateThrottle, StreamSlot, admit_media, stream_slot

logger = logging.getLogger(__name__)


class BadGateway(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = _("The storage service failed to deliver this media.")


class GatewayTimeout(APIException):
    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    default_detail = _("The storage service did not answer in time.")


class StorageUnavailable(APIException):
    """DCS is failing (the circuit breaker is open) or this process has no room for media."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("Media is unavailable for a moment. Please try again shortly.")
    default_code = "media_unavailable"


class MediaNotServable(APIException):
    """The file exists, but the LMS cannot serve it in the form asked (not a DCS failure)."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = _("This file cannot be served.")
    default_code = "media_not_servable"


# Errors whose one log line (if any) the media layer writes itself.
SAID_ONCE = (BadGateway, GatewayTimeout, StorageUnavailable, MediaNotServable, MediaBusy)


@cache
def get_responder() -> MediaResponder:
    source = ObjectSource(
        get_dcs_client(),
        ObjectStoreClient(
            connect_timeout=settings.DCS_CONNECT_TIMEOUT,
            read_timeout=settings.DCS_READ_TIMEOUT,
            pool_size=settings.DCS_POOL_SIZE,
            breaker=get_breaker(),
        ),
        presigned=settings.DCS_PRESIGNED,
        url_lifetime=settings.DCS_PRESIGNED_LIFETIME,
        refused_ttl=settings.DCS_PRESIGN_RETRY_AFTER,
    )
    return MediaResponder(
        source,
        store_origin=settings.MEDIA_NGINX_STORE_ORIGIN,
        chunk_size=settings.MEDIA_CHUNK_SIZE,
        max_age=settings.MEDIA_CACHE_MAX_AGE,
        max_parts=settings.MEDIA_MAX_RANGES,
        size_ttl=settings.MEDIA_METADATA_TTL,
        subtitle_max_bytes=settings.MEDIA_SUBTITLE_MAX_BYTES,
    )


def client_request_from(request: Request) -> ClientRequest:
    headers = request.headers
    return ClientRequest(
        method=request.method,
        range=parse_range_header(headers.get("Range")),
        if_range=headers.get("If-Range"),
        if_match=headers.get("If-Match"),
        if_none_match=headers.get("If-None-Match"),
        if_unmodified_since=headers.get("If-Unmodified-Since"),
        if_modified_since=headers.get("If-Modified-Since"),
    )


def valid_path(path: str) -> str:
    try:
        return validate_asset_path(path)
    except InvalidPath as error:
        raise ParseError(str(error)) from None


class MediaAPIView(APIView):
    # Bearer first: its challenge makes a request without credentials a 401.
    authentication_classes = [
        BearerTokenAuthentication,
        SignedLinkAuthentication,
        SessionAuthentication,
    ]
    permission_classes = [IsAuthenticated, SignedLinkScope]
    content_negotiation_class = AlwaysJSON

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(exc, SAID_ONCE):
            # Logged where it was decided (or shed on purpose): not again by
            # django.request for every request.
            response._has_been_logged = True
        return response


class MediaView(MediaAPIView):
    """GET/HEAD /api/v1/books/{book_id}/media/{asset_path}: the bytes, with full Range support."""

    http_method_names = ["get", "head", "options"]
    throttle_classes = []  # MediaRateThrottle, counted in `admit` with the stream slot

    def get(self, request: Request, book_id: str, asset_path: str) -> HttpResponseBase:
        book = get_readable_book(request.user, book_id)
        obj = MediaObject(book.publisher.name, book.book_name, valid_path(asset_path))
        # Its last query is done: the admission may wait, DCS take its time and the
        # body stream for an hour, none of them holding a database connection.
        give_back_connections()
        offload = came_through_nginx(request)
        record = StreamRecord(
            user=request.user.pk,
            book=str(book.pk),
            path=obj.path,
            method=request.method,
            range=request.headers.get("Range"),
        )
        slot, cached = self.admit(request, obj, hold_slot=not offload)
        with (
            open_stream(record, slot, cached) as stream,
            dcs_errors_as_api_errors(record),
        ):
            response = stream.hand_over(self._respond(request, obj, offload, stream))
        if response.streaming:
            prepare_to_stream(
                request.META,
                send_timeout=settings.MEDIA_SEND_TIMEOUT,
                send_buffer=settings.MEDIA_SEND_BUFFER,
            )
        return response

    def admit(
        self, request: Request, obj: MediaObject, *, hold_slot: bool
    ) -> tuple[StreamSlot, dict]:
        """After the access check, in one cache round trip (usually none while the user
        is far from both limits): the user's rate window, a slot among their streams
        (offloaded bodies are nginx's: a slot would be released before its first byte)
        and the cache entries the answer decides on."""
        limit, lease = settings.MEDIA_MAX_STREAMS_PER_USER, settings.MEDIA_STREAM_LEASE
        return admit_media(
            MediaRateThrottle().window(request, self),
            stream_slot(request.user.pk, limit, lease) if hold_slot else None,
            get_responder().cache_keys(obj),
        )

    def _respond(
        self, request: Request, obj: MediaObject, offload: bool, stream: MediaStream
    ) -> HttpResponseBase:
        if (failure := dcs_failure_seen_by_nginx(request)) is not None:
            raise failure
        responder = get_responder()
        if request.query_params.get("format") == "vtt" and obj.path.lower().endswith(".srt"):
            return responder.respond_srt_as_vtt(obj)
        client_request = client_request_from(request)
        if offload and (response := responder.respond_offloaded(obj, client_request, stream)):
            return response
        return responder.respond(obj, client_request, stream)


def unavailable(retry_after: float) -> StorageUnavailable:
    error = StorageUnavailable()
    error.wait = max(1, math.ceil(retry_after))  # DRF sends it as Retry-After
    return error


def give_back_connections() -> None:
    """This thread's database connections go back now, not when the request ends: to the
    pool, or closed with CONN_MAX_AGE=0 (a persistent one stays with its thread)."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def came_through_nginx(request: Request) -> bool:
    """Offload only for a request our nginx sent (it sets the secret and drops a client's),
    and not when nginx falls back here after a DCS error (X-Media-Offload: off). Anyone
    else reaching gunicorn gets the bytes streamed, never the DCS token."""
    if request.headers.get("X-Media-Offload") == "off":
        return False
    return has_offload_secret(request)


def has_offload_secret(request: Request) -> bool:
    secret = request.headers.get("X-Media-Offload-Secret", "")
    return settings.MEDIA_NGINX_OFFLOAD and constant_time_compare(
        secret, settings.MEDIA_OFFLOAD_SECRET
    )


def dcs_failure_seen_by_nginx(request: Request) -> DCSError | None:
    """nginx's own read of DCS failed (offload mode): the error to answer with, counted on
    the breaker. Only nginx may say so: its header counts with the offload secret, and
    nginx drops a client's X-Media-Dcs-Failed."""
    failure = request.headers.get("X-Media-Dcs-Failed")
    if not failure or not has_offload_secret(request):
        return None
    get_breaker().record_failure()
    if failure == "timeout":
        return DCSTimeout("nginx's read of DCS timed out")
    return DCSUnavailable("nginx's read of DCS failed")


@contextmanager
def dcs_errors_as_api_errors(record: StreamRecord) -> Iterator[None]:
    """What a DCS or content error means to the client (raised before any body byte)."""
    try:
        yield
    except DCSNotFound:
        raise NotFound(_("Media not found.")) from None
    except CircuitOpen as error:
        raise unavailable(error.retry_after) from None
    except (UnservableName, SubtitleError) as error:
        logger.warning("Cannot serve book %s path %r: %s", record.book, record.path, error)
        raise MediaNotServable(str(error)) from None
    except DCSTimeout:
        logger.warning("DCS timed out for book %s path %r", record.book, record.path)
        raise GatewayTimeout() from None
    except DCSError as error:
        logger.error("DCS failed for book %s path %r: %s", record.book, record.path, error)
        raise BadGateway() from None


class MediaLinkView(MediaAPIView):
    """POST /api/v1/books/{book_id}/media-links {"path"} → a signed, expiring media URL."""

    def post(self, request: Request, book_id: str) -> Response:
        book = get_readable_book(request.user, book_id)
        path = request.data.get("path") if isinstance(request.data, dict) else None
        if not isinstance(path, str):
            raise ParseError(_('Send the media path as JSON: {"path": "audio/01.mp3"}.'))
        path = valid_path(path)
        token, expires_at = sign_link(request.user.pk, str(book.pk), path)
        url = reverse("media", kwargs={"book_id": str(book.pk), "asset_path": path})
        return Response(
            {
                "url": request.build_absolute_uri(f"{url}?{QUERY_PARAM}={token}"),
                "expires_at": expires_at.isoformat(),
            },
            status=status.HTTP_201_CREATED,
        )


class MeView(MediaAPIView):
    """GET /api/v1/me: who the credentials belong to (and the benchmark's minimal view)."""

    def get(self, request: Request) -> Response:
        return Response({"id": request.user.pk, "username": request.user.get_username()})
