"""The headers of a media response: one pure function for GET, HEAD and offload.

`media_headers` answers from the plan, the object's path and ETag, and the
body's shape. nginx's offload location sends the same values: Django passes
the per-response ones as `X-Media-*` headers (`offload_headers`), and the
template's fixed ones are rendered from the constants below
(`deploy/render.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from media_proxy.media_types import inline_disposition
from media_proxy.planning import ResponsePlan, Status

if TYPE_CHECKING:  # only its fields are read: this module stays free of Django
    from media_proxy.body import BodyShape

VARY = "Cookie, Authorization"
# A book may hold .html or .svg: opened directly, it must not run as a page of
# the LMS's origin. Media elements and <img> ignore this header.
CONTENT_SECURITY_POLICY = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'"

# What nginx's offload location takes from Django's answer (the template reads
# $upstream_http_x_media_*); Content-Length, Content-Range and ETag come from
# DCS's answer to the exact range Django planned.
OFFLOADED = ("Content-Type", "Cache-Control", "Content-Disposition", "Vary")


def media_headers(
    plan: ResponsePlan, path: str, etag: str | None, shape: BodyShape | None, *, cache_control: str
) -> dict[str, str]:
    """Every header of the answer to `plan` but those of a JSON error body (412, 416).

    `shape` describes the body of a 200 or 206 and is None for other statuses.
    """
    headers = common_headers(etag, cache_control)
    if shape is not None:
        headers["Content-Type"] = shape.content_type
        headers["Content-Length"] = str(shape.content_length)
        if shape.content_range:
            headers["Content-Range"] = shape.content_range
        headers["Content-Disposition"] = inline_disposition(path)
    elif plan.status == Status.RANGE_NOT_SATISFIABLE:
        headers["Content-Range"] = f"bytes */{plan.size}"  # RFC 9110 14.4
    return headers


def common_headers(etag: str | None, cache_control: str) -> dict[str, str]:
    """What every answer of the media endpoint carries, whatever its status."""
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": cache_control,
        "Vary": VARY,
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    }
    if etag:
        headers["ETag"] = etag
    return headers


def offload_headers(headers: dict[str, str]) -> dict[str, str]:
    """`headers` as nginx's offload location reads them (X-Media-<name>)."""
    return {f"X-Media-{name}": headers[name] for name in OFFLOADED}
