"""The media API: thin views that authenticate, authorize, validate, then hand over."""

import logging
import uuid
from collections.abc import Callable
from functools import cache

from django.conf import settings
from django.http import HttpResponseBase
from django.urls import reverse
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import APIException, NotFound, ParseError, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from books.access import can_read_book
from books.models import Book
from media_proxy.authentication import BearerTokenAuthentication, SignedLinkAuthentication
from media_proxy.dcs import DCSError, DCSNotFound, DCSTimeout, get_dcs_client
from media_proxy.negotiation import AlwaysJSON
from media_proxy.paths import InvalidPath, validate_asset_path
from media_proxy.planning import ClientRequest
from media_proxy.ranges import parse_range_header
from media_proxy.signing import QUERY_PARAM, sign_link
from media_proxy.streaming import MediaObject, MediaResponder, StreamRecord
from media_proxy.throttling import MediaRateThrottle, StreamSlot, acquire_stream_slot

logger = logging.getLogger(__name__)


class BadGateway(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The storage service failed to deliver this media."


class GatewayTimeout(APIException):
    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    default_detail = "The storage service did not answer in time."


@cache
def get_responder() -> MediaResponder:
    return MediaResponder(
        get_dcs_client(),
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


def readable_book(request: Request, book_id: str) -> Book:
    """The book, when it exists (404) and the caller may read it (403)."""
    try:
        book = Book.objects.select_related("publisher").get(pk=uuid.UUID(book_id))
    except (ValueError, Book.DoesNotExist):
        raise NotFound("Book not found.") from None
    if not can_read_book(request.user, book):
        raise PermissionDenied("You do not have access to this book.")
    return book


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
    content_negotiation_class = AlwaysJSON


class MediaView(MediaAPIView):
    """GET/HEAD /api/v1/books/{book_id}/media/{asset_path}: the bytes, with full Range support."""

    http_method_names = ["get", "head", "options"]
    throttle_classes = [MediaRateThrottle]

    def get(self, request: Request, book_id: str, asset_path: str) -> HttpResponseBase:
        book = readable_book(request, book_id)
        path = valid_path(asset_path)
        obj = MediaObject(book.publisher.name, book.book_name, path)
        record = StreamRecord(
            user=request.user.pk,
            book=str(book.pk),
            path=path,
            method=request.method,
            range=request.headers.get("Range"),
        )
        # Offloaded bodies are nginx's: a slot would be released before its first byte.
        slot = (
            StreamSlot(None)
            if _offloading(request)
            else acquire_stream_slot(
                request.user.pk, settings.MEDIA_MAX_STREAMS_PER_USER, settings.MEDIA_STREAM_LEASE
            )
        )
        try:
            response = self._respond(request, obj, record, slot.release)
        except APIException as error:
            slot.release()
            record.status, record.outcome = error.status_code, "error"
            record.log()
            raise
        except BaseException:
            slot.release()
            raise
        record.status = response.status_code
        if not response.streaming:
            # A streamed body logs and releases its slot when it closes.
            slot.release()
            if request.method == "GET" and record.outcome != "offloaded":
                record.bytes_sent = len(response.content)
            record.log()
        return response

    def _respond(
        self, request: Request, obj: MediaObject, record: StreamRecord, on_close: Callable[[], None]
    ) -> HttpResponseBase:
        try:
            if request.query_params.get("format") == "vtt" and obj.path.lower().endswith(".srt"):
                return get_responder().respond_srt_as_vtt(obj)
            return self._respond_media(request, obj, record, on_close)
        except DCSNotFound:
            raise NotFound("Media not found.") from None
        except DCSTimeout:
            logger.warning("DCS timed out for book %s path %r", record.book, obj.path)
            raise GatewayTimeout() from None
        except DCSError as error:
            logger.error("DCS failed for book %s path %r: %s", record.book, obj.path, error)
            raise BadGateway() from None

    head = get

    def _respond_media(
        self, request: Request, obj: MediaObject, record: StreamRecord, on_close: Callable[[], None]
    ) -> HttpResponseBase:
        responder, client_request = get_responder(), client_request_from(request)
        if _offloading(request):
            response = responder.respond_offloaded(obj, client_request, record)
            if response is not None:
                return response
        return responder.respond(obj, client_request, record, on_close=on_close)


def _offloading(request: Request) -> bool:
    # nginx sets X-Media-Offload: off when it falls back here after a DCS error.
    return settings.MEDIA_NGINX_OFFLOAD and request.headers.get("X-Media-Offload") != "off"


class MediaLinkView(MediaAPIView):
    """POST /api/v1/books/{book_id}/media-links {"path"} → a signed, expiring media URL."""

    def post(self, request: Request, book_id: str) -> Response:
        book = readable_book(request, book_id)
        path = request.data.get("path") if isinstance(request.data, dict) else None
        if not isinstance(path, str):
            raise ParseError('Send the media path as JSON: {"path": "audio/01.mp3"}.')
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
