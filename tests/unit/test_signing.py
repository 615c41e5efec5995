"""Tests for media_proxy.signing: signed media links (django.core.signing, TimestampSigner)."""

from __future__ import annotations

import json
import re
import zlib
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
from django.core import signing
from django.test import override_settings

from media_proxy.signing import SALT, InvalidLink, LinkClaims, read_link, sign_link

MAX_AGE = 3600
NOW = 1_750_000_000  # a fixed time.time()
EXPIRED = "This media link has expired."
NOT_VALID = "This media link is not valid."


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


def clock(seconds: float):
    """Freeze the clock django.core.signing reads (its module-level `time.time()`)."""
    return mock.patch.object(signing, "time", SimpleNamespace(time=lambda: seconds))


def signed_at(seconds: float, user_id: int = 7, book_id: str = "b-1", path: str = "a.mp3") -> str:
    with clock(seconds):
        token, _ = sign_link(user_id, book_id, path)
    return token


def payload_of(token: str) -> dict:
    """The JSON inside a token, read without the secret key: signed, not encrypted."""
    data = token.split(":")[0]
    compressed = data.startswith(".")
    raw = signing.b64_decode(data.removeprefix(".").encode())
    return json.loads(zlib.decompress(raw) if compressed else raw)


@pytest.mark.parametrize(
    ("user_id", "book_id", "path"),
    [
        pytest.param(7, "3f2b8a4e-5c1d-4e8f-9a7b-2c6d1e0f9a8b", "audio/08.mp3", id="plain"),
        pytest.param(1, "b", "Ünite 1/şarkı ğ ı İ.mp3", id="Turkish path"),
        pytest.param(42, "b", "a:b/c?d&e=f#g.mp3", id="separators in the path"),
        pytest.param(10**12, "b", "x" * 1000, id="long path, big id"),
    ],
)
@override_settings(MEDIA_LINK_MAX_AGE=MAX_AGE)
def test_round_trip(user_id, book_id, path):
    token, _ = sign_link(user_id, book_id, path)
    assert read_link(token) == LinkClaims(user_id, book_id, path)


@override_settings(MEDIA_LINK_MAX_AGE=MAX_AGE)
def test_token_is_url_safe():
    token, _ = sign_link(7, "b-1", "Ünite 1/a b+c/d.mp3")
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_:.")


@override_settings(MEDIA_LINK_MAX_AGE=MAX_AGE)
def test_expires_at_is_now_plus_max_age():
    now = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
    with mock.patch("django.utils.timezone.now", return_value=now):
        _, expires_at = sign_link(7, "b-1", "a.mp3")
    assert expires_at == now + timedelta(seconds=MAX_AGE)


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        pytest.param(0, LinkClaims(7, "b-1", "a.mp3"), id="fresh"),
        pytest.param(MAX_AGE - 1, LinkClaims(7, "b-1", "a.mp3"), id="a second before"),
        pytest.param(MAX_AGE, LinkClaims(7, "b-1", "a.mp3"), id="at max age"),
        pytest.param(MAX_AGE + 0.5, EXPIRED, id="half a second after"),
        pytest.param(MAX_AGE + 1, EXPIRED, id="a second after"),
        pytest.param(30 * 86400, EXPIRED, id="a month after"),
    ],
)
@override_settings(MEDIA_LINK_MAX_AGE=MAX_AGE)
def test_expiry(age, expected):
    token = signed_at(NOW)
    with clock(NOW + age):
        if isinstance(expected, LinkClaims):
            assert read_link(token) == expected
        else:
            with pytest.raises(InvalidLink, match=exactly(expected)):
                read_link(token)


def test_max_age_is_read_when_the_link_is_used():
    with override_settings(MEDIA_LINK_MAX_AGE=MAX_AGE):
        token = signed_at(NOW)
    with (
        override_settings(MEDIA_LINK_MAX_AGE=60),
        clock(NOW + 61),
        pytest.raises(InvalidLink, match=exactly(EXPIRED)),
    ):
        read_link(token)


def tampered_payload(token: str) -> str:
    _, timestamp, signature = token.split(":")
    other = signing.b64_encode(json.dumps({"u": 1, "b": "b-1", "p": "a.mp3"}).encode()).decode()
    return f"{other}:{timestamp}:{signature}"


def flip_last(text: str) -> str:
    return text[:-1] + ("A" if text[-1] != "A" else "B")


@pytest.mark.parametrize(
    "make_bad",
    [
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: "garbage", id="garbage"),
        pytest.param(flip_last, id="signature changed"),
        pytest.param(lambda t: t.rsplit(":", 1)[0], id="signature removed"),
        pytest.param(tampered_payload, id="payload swapped (other user)"),
        pytest.param(
            lambda t: t.split(":")[0] + ":" + flip_last(t.split(":")[1]) + ":" + t.split(":")[2],
            id="timestamp changed",
        ),
        pytest.param(lambda t: t + "x", id="appended"),
        pytest.param(
            lambda t: signing.dumps({"u": 7, "b": "b-1", "p": "a.mp3"}, salt="other"),
            id="other salt",
        ),
        pytest.param(
            lambda t: signing.dumps({"u": 7, "b": "b-1", "p": "a.mp3"}, salt=SALT, key="k" * 50),
            id="other key",
        ),
        # Correctly signed, but not claims this module wrote.
        pytest.param(lambda t: signing.dumps({"u": 7, "b": "b-1"}, salt=SALT), id="missing path"),
        pytest.param(
            lambda t: signing.dumps({"u": "seven", "b": "b", "p": "p"}, salt=SALT),
            id="user id not a number",
        ),
        pytest.param(lambda t: signing.dumps([7, "b", "p"], salt=SALT), id="list payload"),
        pytest.param(lambda t: signing.dumps("7", salt=SALT), id="string payload"),
    ],
)
@override_settings(MEDIA_LINK_MAX_AGE=MAX_AGE)
def test_bad_link_is_refused(make_bad):
    token, _ = sign_link(7, "b-1", "a.mp3")
    with pytest.raises(InvalidLink, match=exactly(NOT_VALID)):
        read_link(make_bad(token))


@override_settings(MEDIA_LINK_MAX_AGE=MAX_AGE)
def test_token_carries_only_user_book_and_path():
    """Anyone holding the link can read its payload: nothing else may be in it."""
    token, _ = sign_link(7, "b-1", "Ünite 1/müzik.mp3")
    assert payload_of(token) == {"u": 7, "b": "b-1", "p": "Ünite 1/müzik.mp3"}
