"""Signed media links end to end: created with a credential, used without one.

A link is what a player that can send neither a cookie nor a header gets
(`<audio src>`, ffmpeg, curl, wget). These tests hold it to its promise: it
reads one file of one book for one user, for MEDIA_LINK_MAX_AGE, carries no
credential, and grants nothing once the user's access is gone.
"""

import time
from datetime import datetime, timedelta
from unittest import mock
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from django.conf import settings
from django.core import signing
from django.utils import timezone
from rest_framework.authtoken.models import Token

from books.models import BookAssignment
from media_proxy.signing import QUERY_PARAM, SALT
from tests import media
from tests.factories import (
    assign,
    bearer,
    make_book,
    make_user,
    session_cookie,
    student_with_book,
)
from tests.wire import fetch_raw

pytestmark = pytest.mark.wire

ONE_MIB = "data/random-1m.bin"
SRT = "videos/unit 1/intro.srt"


@pytest.fixture
def student(lms):
    return student_with_book()


def links_url(lms, book_id) -> str:
    return lms.url(f"/api/v1/books/{book_id}/media-links")


def create_link(lms, book, path: str, headers: dict[str, str]) -> requests.Response:
    return requests.post(links_url(lms, book.pk), json={"path": path}, headers=headers, timeout=10)


def signed_url(lms, user, book, path: str) -> str:
    response = create_link(lms, book, path, bearer(user))
    assert response.status_code == 201, response.text
    return response.json()["url"]


def sig_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)[QUERY_PARAM][0]


def with_sig(lms, book_id, path: str, sig: str) -> str:
    return lms.url(f"/api/v1/books/{book_id}/media/{quote(path)}?{QUERY_PARAM}={sig}")


def assert_forbidden(response: requests.Response, detail: str | None = None) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["detail"]
    if detail is not None:
        assert body["detail"] == detail


def sign_aged(user_id: int, book_id: str, path: str, age: int) -> str:
    """A link signed the way `media_proxy.signing` signs it, `age` seconds ago."""
    created = int(time.time()) - age
    stamp = signing.b62_encode(created)
    with mock.patch.object(signing.TimestampSigner, "timestamp", return_value=stamp):
        return signing.dumps({"u": user_id, "b": book_id, "p": path}, salt=SALT, compress=True)


# --- creating a link ---------------------------------------------------------------------


def test_link_is_absolute_expires_in_four_hours_and_carries_no_credential(lms, student):
    user, book = student
    cookie = session_cookie(user)["sessionid"]
    token = Token.objects.get_or_create(user=user)[0].key
    before = timezone.now()
    response = create_link(lms, book, ONE_MIB, bearer(user))
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"url", "expires_at"}
    url = body["url"]
    parts = urlsplit(url)
    assert url.startswith(lms.base_url + "/")
    assert parts.path == f"/api/v1/books/{book.pk}/media/data/random-1m.bin"
    assert set(parse_qs(parts.query)) == {QUERY_PARAM}

    expires_at = datetime.fromisoformat(body["expires_at"])
    assert expires_at.tzinfo is not None
    expected = before + timedelta(seconds=settings.MEDIA_LINK_MAX_AGE)
    assert settings.MEDIA_LINK_MAX_AGE == 4 * 3600
    assert abs((expires_at - expected).total_seconds()) < 30

    for secret in (token, cookie, "pw-test-123"):
        assert secret not in url
    # The signature is readable by anyone (signed, not encrypted): it must hold ids only.
    claims = signing.loads(sig_of(url), salt=SALT)
    assert claims == {"u": user.pk, "b": str(book.pk), "p": ONE_MIB}


def test_link_made_through_nginx_points_at_nginx(lms_offload_server, transactional_db, dcs):
    """Behind the shipped nginx (offload mode) the link keeps the host and port the
    client used, and works through nginx."""
    user, book = student_with_book()
    response = create_link(lms_offload_server, book, ONE_MIB, bearer(user))
    assert response.status_code == 201
    url = response.json()["url"]
    assert url.startswith(lms_offload_server.base_url + "/"), url
    part = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=10)
    assert part.status_code == 206
    assert part.content == media.file_bytes(ONE_MIB)[10:20]


def test_creating_a_link_needs_credentials(lms, dcs):
    book = make_book()
    response = requests.post(links_url(lms, book.pk), json={"path": ONE_MIB}, timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["detail"]


def test_creating_a_link_needs_access_to_the_book(lms, dcs):
    book = make_book()
    response = create_link(lms, book, ONE_MIB, bearer(make_user()))
    assert_forbidden(response, "You do not have access to this book.")
    assert dcs.stats.object_requests == 0


@pytest.mark.parametrize(
    "body", [{"path": "../x"}, {"path": "a/../b.mp3"}, {"path": ""}, {"path": 3}, {}, ["x"]]
)
def test_creating_a_link_needs_a_valid_path(lms, student, body):
    user, book = student
    response = requests.post(links_url(lms, book.pk), json=body, headers=bearer(user), timeout=10)
    assert response.status_code == 400, body
    assert response.json()["detail"]


@pytest.mark.parametrize("book_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_creating_a_link_for_an_unknown_book_is_404(lms, student, book_id):
    user, _ = student
    response = requests.post(
        links_url(lms, book_id), json={"path": ONE_MIB}, headers=bearer(user), timeout=10
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "Book not found."}


# --- using a link ------------------------------------------------------------------------


def test_link_reads_without_cookie_or_header(lms, dcs, student):
    user, book = student
    url = signed_url(lms, user, book, ONE_MIB)
    source = media.file_bytes(ONE_MIB)

    full = requests.get(url, timeout=10)
    assert full.status_code == 200
    assert full.content == source
    assert full.headers["Content-Length"] == str(len(source))

    part = requests.get(url, headers={"Range": "bytes=1000-1999"}, timeout=10)
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(source)}"
    assert part.content == source[1000:2000]

    parts = urlsplit(url)
    head = fetch_raw(lms, "HEAD", f"{parts.path}?{parts.query}", {})
    assert head.status == 200
    assert head.body == b""
    assert head.headers["Content-Length"] == str(len(source))
    assert head.headers["Accept-Ranges"] == "bytes"
    assert dcs.stats.object_requests == 3


def test_link_for_a_path_with_spaces(lms, student):
    user, book = student
    path = "videos/unit 1/intro.mp4"
    url = signed_url(lms, user, book, path)
    assert "unit%201" in urlsplit(url).path
    response = requests.get(url, headers={"Range": "bytes=0-1"}, timeout=10)
    assert response.status_code == 206
    assert response.content == media.file_bytes(path)[:2]


@pytest.mark.parametrize("where", ["signature", "payload", "timestamp"])
def test_tampered_link_is_403(lms, dcs, student, where):
    user, book = student
    sig = sig_of(signed_url(lms, user, book, ONE_MIB))
    payload, stamp, signature = sig.rsplit(":", 2)
    flip = {"A": "B"}

    def altered(text: str) -> str:
        index = len(text) // 2
        return text[:index] + flip.get(text[index], "A") + text[index + 1 :]

    tampered = {
        "signature": f"{payload}:{stamp}:{altered(signature)}",
        "payload": f"{altered(payload)}:{stamp}:{signature}",
        "timestamp": f"{payload}:{signing.b62_encode(int(time.time()) + 60)}:{signature}",
    }[where]
    assert tampered != sig
    response = requests.get(with_sig(lms, book.pk, ONE_MIB, tampered), timeout=10)
    assert_forbidden(response, "This media link is not valid.")
    assert dcs.stats.object_requests == 0


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda claims: signing.dumps(claims, salt=SALT, key="x" * 50), id="other-key"),
        pytest.param(lambda claims: signing.dumps(claims, salt="other-salt"), id="other-salt"),
        pytest.param(lambda claims: signing.dumps({"u": claims["u"]}, salt=SALT), id="no-path"),
        pytest.param(lambda claims: "garbage", id="garbage"),
        pytest.param(lambda claims: "", id="empty"),
    ],
)
def test_forged_link_is_403(lms, dcs, student, token):
    user, book = student
    claims = {"u": user.pk, "b": str(book.pk), "p": ONE_MIB}
    response = requests.get(with_sig(lms, book.pk, ONE_MIB, token(claims)), timeout=10)
    assert_forbidden(response)
    assert dcs.stats.object_requests == 0


def test_link_for_another_path_of_the_same_book_is_403(lms, dcs, student):
    user, book = student
    sig = sig_of(signed_url(lms, user, book, ONE_MIB))
    for other in ["data/random-4m.bin", "data/random-1m.bin.", "data/RANDOM-1m.bin"]:
        response = requests.get(with_sig(lms, book.pk, other, sig), timeout=10)
        assert_forbidden(response, "This media link is for another file.")
    assert dcs.stats.object_requests == 0


def test_link_for_another_book_is_403(lms, dcs, student):
    user, book = student
    other = make_book(book_name="book-b", title="Other book")
    assign(other, user=user)  # the user may read it: only the link is wrong
    assert (
        requests.get(
            signed_url(lms, user, other, ONE_MIB), headers={"Range": "bytes=0-1"}, timeout=10
        ).status_code
        == 404
    )  # readable (no such file upstream), so not a 403
    sig = sig_of(signed_url(lms, user, book, ONE_MIB))
    response = requests.get(with_sig(lms, other.pk, ONE_MIB, sig), timeout=10)
    assert_forbidden(response, "This media link is for another file.")
    assert dcs.stats.object_requests == 1  # the readability check above, nothing more


def test_link_signed_for_another_user_reads_as_that_user(lms, dcs, student):
    """A link names its user: the one it was made for, not whoever holds a token."""
    user, book = student
    outsider = make_user()
    sig = sig_of(signed_url(lms, user, book, ONE_MIB))
    url = with_sig(lms, book.pk, ONE_MIB, sig)
    response = requests.get(url, headers={"Range": "bytes=0-1"}, timeout=10)
    assert response.status_code == 206
    forged = sign_aged(outsider.pk, str(book.pk), ONE_MIB, age=0)
    assert_forbidden(requests.get(with_sig(lms, book.pk, ONE_MIB, forged), timeout=10))


def test_expired_link_is_403(lms, dcs, student):
    user, book = student
    max_age = settings.MEDIA_LINK_MAX_AGE
    fresh_enough = sign_aged(user.pk, str(book.pk), ONE_MIB, age=max_age - 60)
    response = requests.get(
        with_sig(lms, book.pk, ONE_MIB, fresh_enough), headers={"Range": "bytes=0-1"}, timeout=10
    )
    assert response.status_code == 206
    assert response.content == media.file_bytes(ONE_MIB)[:2]

    expired = sign_aged(user.pk, str(book.pk), ONE_MIB, age=max_age + 60)
    response = requests.get(with_sig(lms, book.pk, ONE_MIB, expired), timeout=10)
    assert_forbidden(response, "This media link has expired.")
    assert dcs.stats.object_requests == 1


def test_revoked_assignment_stops_the_link_at_once(lms, dcs, student):
    user, book = student
    url = signed_url(lms, user, book, ONE_MIB)
    assert requests.get(url, headers={"Range": "bytes=0-1"}, timeout=10).status_code == 206
    deleted, _ = BookAssignment.objects.filter(book=book, user=user).delete()
    assert deleted == 1
    assert_forbidden(requests.get(url, timeout=10), "You do not have access to this book.")
    assert dcs.stats.object_requests == 1


def test_ended_assignment_stops_the_link(lms, dcs, student):
    user, book = student
    url = signed_url(lms, user, book, ONE_MIB)
    BookAssignment.objects.filter(book=book, user=user).update(
        ends_at=timezone.now() - timedelta(seconds=1)
    )
    assert_forbidden(requests.get(url, timeout=10), "You do not have access to this book.")
    assert dcs.stats.object_requests == 0


def test_deactivated_user_link_is_403(lms, dcs, student):
    user, book = student
    url = signed_url(lms, user, book, ONE_MIB)
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert_forbidden(requests.get(url, timeout=10), "This media link is not valid.")
    assert dcs.stats.object_requests == 0


def test_deleted_user_link_is_403(lms, dcs, student):
    user, book = student
    url = signed_url(lms, user, book, ONE_MIB)
    user.delete()
    assert_forbidden(requests.get(url, timeout=10), "This media link is not valid.")


def test_link_cannot_create_links(lms, student):
    """A link reads its one file; it is not a credential for the rest of the API."""
    user, book = student
    sig = sig_of(signed_url(lms, user, book, ONE_MIB))
    response = requests.post(
        f"{links_url(lms, book.pk)}?{QUERY_PARAM}={sig}", json={"path": ONE_MIB}, timeout=10
    )
    assert response.status_code == 403


# --- subtitles ---------------------------------------------------------------------------


def test_srt_link_as_vtt(lms, student):
    user, book = student
    url = signed_url(lms, user, book, SRT)

    vtt = requests.get(f"{url}&format=vtt", timeout=10)
    assert vtt.status_code == 200
    assert vtt.headers["Content-Type"] == "text/vtt; charset=utf-8"
    text = vtt.content.decode("utf-8")
    assert text.startswith("WEBVTT")
    assert "00:00:00.000 --> 00:00:04.000" in text
    assert "Ayşe" in text

    srt = requests.get(url, timeout=10)
    assert srt.status_code == 200
    assert srt.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert srt.content == media.file_bytes(SRT)
