"""media_headers: one table of what each plan's answer carries (GET, HEAD and offload alike)."""

from pathlib import Path

import pytest

from deploy.render import render
from media_proxy.body import body_shape
from media_proxy.headers import (
    CONTENT_SECURITY_POLICY,
    PLAYABLE_POLICY,
    VARY,
    content_security_policy,
    media_headers,
    offload_headers,
)
from media_proxy.planning import ResponsePlan, Status
from media_proxy.ranges import ByteRange

ROOT = Path(__file__).resolve().parents[2]
CACHE = "private, max-age=60"
COMMON = {
    "Accept-Ranges": "bytes",
    "Cache-Control": CACHE,
    "Vary": VARY,
    "Content-Security-Policy": PLAYABLE_POLICY,  # an .mp3 plays when opened in a tab
}
INLINE = 'inline; filename="a b.mp3"'


def headers_for(plan: ResponsePlan, etag: str | None = '"v1"') -> dict[str, str]:
    shape = body_shape(plan, "audio/mpeg", "XYZ") if plan.has_body else None
    return media_headers(plan, "dir/a b.mp3", etag, shape, cache_control=CACHE)


ROWS = [
    pytest.param(
        ResponsePlan(Status.OK, 10, (ByteRange(0, 9),)),
        {"ETag": '"v1"', "Content-Type": "audio/mpeg", "Content-Length": "10",
         "Content-Disposition": INLINE},
        id="200",
    ),
    pytest.param(
        ResponsePlan(Status.OK, 0, ()),
        {"ETag": '"v1"', "Content-Type": "audio/mpeg", "Content-Length": "0",
         "Content-Disposition": INLINE},
        id="200 empty object",
    ),
    pytest.param(
        ResponsePlan(Status.PARTIAL_CONTENT, 10, (ByteRange(2, 5),)),
        {"ETag": '"v1"', "Content-Type": "audio/mpeg", "Content-Length": "4",
         "Content-Range": "bytes 2-5/10", "Content-Disposition": INLINE},
        id="206",
    ),
    pytest.param(ResponsePlan(Status.NOT_MODIFIED, 10), {"ETag": '"v1"'}, id="304"),
    pytest.param(ResponsePlan(Status.PRECONDITION_FAILED, 10), {"ETag": '"v1"'}, id="412"),
    pytest.param(
        ResponsePlan(Status.RANGE_NOT_SATISFIABLE, 10),
        {"ETag": '"v1"', "Content-Range": "bytes */10"},
        id="416",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("plan", "extra"), ROWS)
def test_media_headers(plan, extra):
    assert headers_for(plan) == COMMON | extra


def test_multipart_headers_describe_the_whole_body():
    plan = ResponsePlan(Status.PARTIAL_CONTENT, 100, (ByteRange(0, 1), ByteRange(50, 51)))
    shape = body_shape(plan, "audio/mpeg", "XYZ")
    headers = headers_for(plan)
    assert headers["Content-Type"] == "multipart/byteranges; boundary=XYZ"
    assert headers["Content-Length"] == str(shape.content_length)
    assert "Content-Range" not in headers


def test_no_etag_no_etag_header():
    assert "ETag" not in headers_for(ResponsePlan(Status.OK, 1, (ByteRange(0, 0),)), etag=None)


def test_offload_passes_what_nginx_cannot_know():
    headers = headers_for(ResponsePlan(Status.PARTIAL_CONTENT, 10, (ByteRange(2, 5),)))
    assert offload_headers(headers) == {
        "X-Media-Content-Type": "audio/mpeg",
        "X-Media-Cache-Control": CACHE,
        "X-Media-Content-Disposition": INLINE,
        "X-Media-Vary": VARY,
        "X-Media-Content-Security-Policy": PLAYABLE_POLICY,
    }


@pytest.mark.parametrize(
    ("content_type", "policy"),
    [
        ("audio/mpeg", PLAYABLE_POLICY),
        ("video/mp4", PLAYABLE_POLICY),
        ("text/vtt; charset=utf-8", PLAYABLE_POLICY),
        ("text/plain; charset=utf-8", PLAYABLE_POLICY),
        ("image/png", PLAYABLE_POLICY),
        ("image/svg+xml", CONTENT_SECURITY_POLICY),
        ("text/html; charset=utf-8", CONTENT_SECURITY_POLICY),
        ("application/xhtml+xml", CONTENT_SECURITY_POLICY),
        ("text/xml", CONTENT_SECURITY_POLICY),
        ("application/pdf", CONTENT_SECURITY_POLICY),
        ("application/octet-stream", CONTENT_SECURITY_POLICY),
        ("multipart/byteranges; boundary=x", CONTENT_SECURITY_POLICY),
    ],
)
def test_only_what_a_browser_plays_or_shows_is_left_unsandboxed(content_type, policy):
    assert content_security_policy(content_type) == policy


def test_the_nginx_template_holds_no_copy_of_the_csp():
    template = (ROOT / "deploy" / "nginx" / "lms.conf.template").read_text()
    assert "sandbox" not in template  # Django decides it per type; nginx passes it on
    values = dict.fromkeys(
        ["LISTEN", "SERVER_NAME", "LMS_ADDRESS", "DCS_ADDRESS", "DCS_SCHEME", "DCS_HOST"], "x"
    )
    offload = {"STATIC_ROOT": "/s", "MEDIA_OFFLOAD_SECRET": "s" * 16, "STORE_ADDRESS": "x"}
    rendered = render(template, values | offload)
    assert rendered.count("add_header Content-Security-Policy $media_csp always;") == 2
