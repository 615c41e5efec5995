"""The headers of a media response: one pure function for GET, HEAD and offload.

`media_headers` answers from the plan, the object's path and ETag, and the
body's shape. nginx's offload locations send the same values: Django passes
them as `X-Media-*` headers (`offload_headers`); the template holds no copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from media_proxy.media_types import content_type_for, inline_disposition
from media_proxy.planning import ResponsePlan, Status

if TYPE_CHECKING:  # only its fields are read: this module stays free of Django
    from media_proxy.body import BodyShape

VARY = "Cookie, Authorization"
# Opened in a tab, a book's audio, video, image or text plays or shows, and
# loads nothing else (its own URL is 'self').
PLAYABLE_POLICY = "default-src 'none'; img-src 'self'; media-src 'self'"
# Anything else (.html, .svg, .xml, unknown types) is sandboxed too: an opaque
# origin, no script, so it can never act as a page of the LMS. (A sandboxed
# media document would be blocked from loading itself: hence the two.)
CONTENT_SECURITY_POLICY = f"sandbox; {PLAYABLE_POLICY}"
PLAYABLE_TYPES = ("audio/", "video/", "text/plain", "text/vtt")
PLAYABLE_IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/avif")

# What nginx's offload location takes from Django's answer (the template reads
# $upstream_http_x_media_*); Content-Length, Content-Range and ETag come from
# DCS's answer to the exact range Django planned.
OFFLOADED = (
    "Content-Type",
    "Cache-Control",
    "Content-Disposition",
    "Vary",
    "Content-Security-Policy",
)


def media_headers(
    plan: ResponsePlan, path: str, etag: str | None, shape: BodyShape | None, *, cache_control: str
) -> dict[str, str]:
    """Every header of the answer to `plan` but those of a JSON error body (412, 416).

    `shape` describes the body of a 200 or 206 and is None for other statuses.
    """
    headers = common_headers(etag, cache_control, content_type_for(path))
    if shape is not None:
        headers["Content-Type"] = shape.content_type
        headers["Content-Length"] = str(shape.content_length)
        if shape.content_range:
            headers["Content-Range"] = shape.content_range
        headers["Content-Disposition"] = inline_disposition(path)
    elif plan.status == Status.RANGE_NOT_SATISFIABLE:
        headers["Content-Range"] = f"bytes */{plan.size}"  # RFC 9110 14.4
    return headers


def common_headers(etag: str | None, cache_control: str, content_type: str) -> dict[str, str]:
    """What every answer of the media endpoint carries, whatever its status."""
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": cache_control,
        "Vary": VARY,
        "Content-Security-Policy": content_security_policy(content_type),
    }
    if etag:
        headers["ETag"] = etag
    return headers


def offload_headers(headers: dict[str, str]) -> dict[str, str]:
    """`headers` as nginx's offload location reads them (X-Media-<name>)."""
    return {f"X-Media-{name}": headers[name] for name in OFFLOADED}


def content_security_policy(content_type: str) -> str:
    """Sandboxed unless the type is one a browser only plays or shows."""
    bare = content_type.partition(";")[0].strip().lower()
    if bare.startswith(PLAYABLE_TYPES) or bare in PLAYABLE_IMAGES:
        return PLAYABLE_POLICY
    return CONTENT_SECURITY_POLICY
