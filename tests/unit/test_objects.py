"""Where an object's bytes come from: DCS's endpoint or the store by presigned URL (`responses`).

The store answers as S3 does (its 416 names no size); what the planner sees is DCS's
contract either way. A presigned URL is a credential: it never appears in an error.
"""

from __future__ import annotations

import pytest
import responses
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache

from media_proxy.dcs import (
    DCSClient,
    DCSNotFound,
    DCSUnavailable,
    UnservableName,
)
from media_proxy.dcs.store import ObjectStoreClient
from media_proxy.objects import PRESIGN_REFUSED_KEY, MediaObject, ObjectSource

BASE = "http://dcs.test"
STORE = "http://store.test/books/Pub/books/Book/"
SIGNED = "?X-Amz-Signature=SECRET123"
PRESIGN_URL = f"{BASE}/storage/books/Pub/Book/presigned"
OBJECT_URL = f"{BASE}/storage/books/Pub/Book/object"
ETAG = '"abc"'


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, f"{BASE}/auth/login", json={"access_token": "t"})
        yield mock


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    yield
    cache.clear()


def source(presigned: bool) -> ObjectSource:
    dcs = DCSClient(
        BASE,
        "lms@dcs",
        "pw",
        connect_timeout=1,
        read_timeout=1,
        pool_size=2,
        cache=LocMemCache("objects", {}),
    )
    store = ObjectStoreClient(connect_timeout=1, read_timeout=1, pool_size=2)
    return ObjectSource(dcs, store, presigned=presigned, url_lifetime=3600)


def presign(rsps, name: str, *, status: int = 200) -> None:
    body = {"url": STORE + name + SIGNED, "expires_in": 3600} if status == 200 else {}
    rsps.add(responses.GET, PRESIGN_URL, json=body, status=status)


def store_answer(rsps, name: str, status: int, body: bytes = b"", **headers: str) -> None:
    rsps.add(responses.GET, STORE + name, body=body, status=status, headers=headers)


def test_presigned_reads_go_to_the_store_with_the_range(rsps):
    presign(rsps, "a.mp3")
    store_answer(rsps, "a.mp3", 206, b"ell", **{"Content-Range": "bytes 1-3/11", "ETag": ETAG})
    with source(True).open(MediaObject("Pub", "Book", "a.mp3"), "bytes=1-3") as upstream:
        assert upstream.status == 206
        assert b"".join(upstream.iter_body(64)) == b"ell"
    assert rsps.calls[-1].request.headers["Range"] == "bytes=1-3"
    assert "Authorization" not in rsps.calls[-1].request.headers  # no DCS token to the store


def test_the_url_is_asked_once_per_object_and_kept(rsps):
    presign(rsps, "a.mp3")
    store_answer(rsps, "a.mp3", 200, b"x", ETag=ETAG)
    objects = source(True)
    for _ in range(3):
        objects.open(MediaObject("Pub", "Book", "a.mp3"), None).close()
    assert [c.request.url.split("?")[0] for c in rsps.calls].count(PRESIGN_URL) == 1


def test_a_refused_url_is_dropped_and_asked_again_once(rsps):
    presign(rsps, "a.mp3")
    store_answer(rsps, "a.mp3", 403)
    store_answer(rsps, "a.mp3", 200, b"x", ETag=ETAG)
    with source(True).open(MediaObject("Pub", "Book", "a.mp3"), None) as upstream:
        assert upstream.status == 200
    urls = [c.request.url.split("?")[0] for c in rsps.calls]
    assert urls.count(PRESIGN_URL) == 2


def test_an_object_the_store_does_not_have_is_not_found(rsps):
    presign(rsps, "gone.mp3")
    store_answer(rsps, "gone.mp3", 404)
    with pytest.raises(DCSNotFound) as error:
        source(True).open(MediaObject("Pub", "Book", "gone.mp3"), None)
    assert "SECRET123" not in str(error.value)


@pytest.mark.parametrize(
    ("last_byte", "size"),
    [
        ((206, {"Content-Range": "bytes 10-10/11", "ETag": ETAG}), 11),
        ((200, {"ETag": ETAG, "Content-Length": "0"}), 0),
    ],
    ids=["past the end", "0-byte object"],
)
def test_the_stores_416_is_answered_as_dcs_does(rsps, last_byte, size):
    presign(rsps, "a.mp3")
    store_answer(rsps, "a.mp3", 416, b"<Error/>")
    status, headers = last_byte
    store_answer(rsps, "a.mp3", status, b"d" if size else b"", **headers)
    with source(True).open(MediaObject("Pub", "Book", "a.mp3"), "bytes=50-") as upstream:
        assert upstream.status == 416
        assert upstream.headers["Content-Range"] == f"bytes */{size}"
        assert upstream.headers["ETag"] == ETAG
    assert rsps.calls[-1].request.headers["Range"] == "bytes=-1"


def test_a_store_failure_never_shows_the_url(rsps):
    presign(rsps, "a.mp3")
    store_answer(rsps, "a.mp3", 500)
    with pytest.raises(DCSUnavailable) as error:
        source(True).open(MediaObject("Pub", "Book", "a.mp3"), None)
    assert "SECRET123" not in str(error.value)
    assert "store.test" not in str(error.value)


def test_names_dcs_cannot_serve_go_through_the_store_when_the_account_may(rsps):
    presign(rsps, "şarkı.mp3")
    store_answer(rsps, "şarkı.mp3", 200, b"song", ETag=ETAG)
    with source(False).open(MediaObject("Pub", "Book", "şarkı.mp3"), None) as upstream:
        assert b"".join(upstream.iter_body(64)) == b"song"
    assert not any(c.request.url.startswith(OBJECT_URL) for c in rsps.calls)


def test_when_the_account_may_not_presign_the_name_is_unservable_and_not_asked_again(rsps):
    presign(rsps, "şarkı.mp3", status=403)
    objects = source(False)
    for _ in range(3):
        with pytest.raises(UnservableName):
            objects.open(MediaObject("Pub", "Book", "şarkı.mp3"), None)
    assert cache.get(PRESIGN_REFUSED_KEY)
    assert [c.request.url.split("?")[0] for c in rsps.calls].count(PRESIGN_URL) == 1


def test_other_names_use_dcs_without_presigned(rsps):
    rsps.add(responses.GET, OBJECT_URL, body=b"x", headers={"ETag": ETAG})
    with source(False).open(MediaObject("Pub", "Book", "a.mp3"), None) as upstream:
        assert upstream.status == 200
    assert not any(c.request.url.startswith(PRESIGN_URL) for c in rsps.calls)
