"""Unit tests for media_proxy.dcs (DCS HTTP client), with `responses` instead of a server."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.core.cache.backends.locmem import LocMemCache
from responses import matchers

from media_proxy import dcs
from media_proxy.dcs import (
    DCSAuthError,
    DCSClient,
    DCSError,
    DCSFile,
    DCSNotFound,
    DCSTimeout,
    DCSUnavailable,
    UnservableName,
    UpstreamResponse,
    tokens,
)
from media_proxy.dcs.connections import StaleConnectionRetry

BASE = "http://dcs.test"
LOGIN_URL = f"{BASE}/auth/login"
EMAIL = "lms-proxy@dcs.example"
PASSWORD = "s3cret-Pa55word"
OBJECT_URL = f"{BASE}/storage/books/Pub/Book/object"
LIST_URL = f"{BASE}/storage/books/Pub/Book"


def make_jwt(exp: float | None = None, sub: str = "7") -> str:
    def seg(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims: dict = {"sub": sub, "iat": int(time.time())}
    if exp is not None:
        claims["exp"] = int(exp)
    return f"{seg({'alg': 'HS256', 'typ': 'JWT'})}.{seg(claims)}.c2lnbmF0dXJl"


TOKEN = make_jwt(time.time() + 1800, sub="1")
STALE = make_jwt(time.time() + 1800, sub="stale")
FRESH = make_jwt(time.time() + 1800, sub="fresh")


@pytest.fixture
def cache() -> LocMemCache:
    c = LocMemCache(f"test-dcs-{uuid.uuid4().hex}", {})
    yield c
    c.clear()


@pytest.fixture
def client(cache: LocMemCache) -> DCSClient:
    return DCSClient(
        BASE,
        EMAIL,
        PASSWORD,
        connect_timeout=1.0,
        read_timeout=2.0,
        pool_size=4,
        cache=cache,
    )


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        yield r


def add_login(rsps, token: str = TOKEN) -> None:
    rsps.add(
        responses.POST,
        LOGIN_URL,
        json={"access_token": token, "token_type": "bearer"},
        match=[matchers.json_params_matcher({"email": EMAIL, "password": PASSWORD})],
    )


def login_calls(rsps) -> int:
    return sum(1 for call in rsps.calls if call.request.url == LOGIN_URL)


def object_calls(rsps) -> list:
    return [c for c in rsps.calls if urlsplit(c.request.url).path.endswith("/object")]


def token_401_callback(good: str, body: bytes = b"payload"):
    """Object endpoint accepting only `good` as bearer token, like DCS."""

    def callback(request):
        if request.headers.get("Authorization") == f"Bearer {good}":
            return 200, {"Content-Type": "audio/mpeg"}, body
        return 401, {"Content-Type": "application/json"}, '{"detail": "Invalid token"}'

    return callback


# --- token: login, reuse, cache lifetime ---------------------------------------------------


def test_logs_in_once_and_reuses_token(rsps, client):
    add_login(rsps)
    rsps.add(responses.GET, OBJECT_URL, body=b"abc")

    for _ in range(2):
        with client.get_object("Pub", "Book", "a.mp3") as upstream:
            assert upstream.status == 200
            assert b"".join(upstream.iter_body(1024)) == b"abc"

    assert login_calls(rsps) == 1
    login_request = rsps.calls[0].request
    assert login_request.headers["Accept-Encoding"] == "identity"
    assert "Authorization" not in login_request.headers
    for call in object_calls(rsps):
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert call.request.headers["Accept-Encoding"] == "identity"


def test_token_is_shared_through_the_cache(rsps, cache, client):
    add_login(rsps)
    rsps.add(responses.GET, OBJECT_URL, body=b"abc")
    client.get_object("Pub", "Book", "a.mp3").close()

    other_worker = DCSClient(
        BASE, EMAIL, PASSWORD, connect_timeout=1, read_timeout=1, pool_size=2, cache=cache
    )
    other_worker.get_object("Pub", "Book", "a.mp3").close()

    assert login_calls(rsps) == 1
    assert object_calls(rsps)[-1].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_login_is_public_and_returns_token(rsps, client, cache):
    add_login(rsps)
    assert client.login() == TOKEN
    assert cache.get(client.tokens.key) == TOKEN


def test_cache_key_hides_email(client):
    assert EMAIL not in client.tokens.key
    assert "lms-proxy" not in client.tokens.key


@pytest.mark.parametrize(
    ("make_token", "low", "high"),
    [
        (lambda: make_jwt(time.time() + 1800), 1735, 1740),  # exp - now - 60
        (lambda: make_jwt(time.time() + 30), 1, 1),  # never below 1 s
        (lambda: make_jwt(None), 300, 300),  # no exp claim
        (lambda: "not-a-jwt", 300, 300),
        (lambda: "a.!!!.c", 300, 300),
    ],
    ids=["exp in 30 min", "exp in 30 s", "no exp", "not a jwt", "bad base64"],
)
def test_token_cache_timeout_derives_from_exp(
    rsps, client, cache, monkeypatch, make_token, low, high
):
    token = make_token()  # made now: the suite may run this minutes after collection
    add_login(rsps, token)
    stored = []
    real_set = cache.set

    def spy_set(key, value, timeout=None, *args, **kwargs):
        stored.append((key, value, timeout))
        return real_set(key, value, timeout, *args, **kwargs)

    monkeypatch.setattr(cache, "set", spy_set)
    assert client.login() == token
    [(key, value, timeout)] = stored
    assert key == client.tokens.key
    assert value == token
    assert low <= timeout <= high


def test_expired_process_copy_falls_back_to_cache(rsps, client, cache):
    cache.set(client.tokens.key, FRESH, 600)
    client.tokens.local = (STALE, time.time() - 1)
    rsps.add_callback(responses.GET, OBJECT_URL, callback=token_401_callback(FRESH))

    client.get_object("Pub", "Book", "a.mp3").close()

    assert login_calls(rsps) == 0
    assert object_calls(rsps)[0].request.headers["Authorization"] == f"Bearer {FRESH}"


# --- 401 handling -------------------------------------------------------------------------


def test_relogin_on_401_once_then_success(rsps, client, cache):
    cache.set(client.tokens.key, STALE, 600)
    add_login(rsps, FRESH)
    rsps.add_callback(responses.GET, OBJECT_URL, callback=token_401_callback(FRESH, b"ok"))

    with client.get_object("Pub", "Book", "a.mp3") as upstream:
        assert upstream.status == 200
        assert b"".join(upstream.iter_body(10)) == b"ok"

    assert login_calls(rsps) == 1
    auths = [c.request.headers["Authorization"] for c in object_calls(rsps)]
    assert auths == [f"Bearer {STALE}", f"Bearer {FRESH}"]
    assert cache.get(client.tokens.key) == FRESH
    assert cache.get(client.tokens.lock_key) is None  # login lock released


def test_401_twice_raises_auth_error(rsps, client, cache, caplog):
    cache.set(client.tokens.key, STALE, 600)
    add_login(rsps, FRESH)
    rsps.add(responses.GET, OBJECT_URL, status=401, json={"detail": "Invalid token"})

    with caplog.at_level(logging.DEBUG), pytest.raises(DCSAuthError) as excinfo:
        client.get_object("Pub", "Book", "a.mp3")

    assert isinstance(excinfo.value, DCSUnavailable)
    assert "401" in str(excinfo.value)
    assert login_calls(rsps) == 1
    assert len(object_calls(rsps)) == 2
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    for secret in (STALE, FRESH, PASSWORD, EMAIL):
        assert secret not in caplog.text
        assert secret not in str(excinfo.value)


def test_list_book_relogins_on_401(rsps, client, cache):
    cache.set(client.tokens.key, STALE, 600)
    add_login(rsps, FRESH)

    def callback(request):
        if request.headers["Authorization"] == f"Bearer {FRESH}":
            return 200, {}, json.dumps({"path": "Pub/books/Book/", "type": "folder"})
        return 401, {}, '{"detail": "Invalid token"}'

    rsps.add_callback(responses.GET, LIST_URL, callback=callback)
    assert client.list_book("Pub", "Book") == []
    assert login_calls(rsps) == 1


# --- login failures -------------------------------------------------------------------------


def test_login_401_raises_auth_error_without_secrets(rsps, client, caplog):
    rsps.add(responses.POST, LOGIN_URL, status=401, json={"detail": "Invalid credentials"})
    rsps.add(responses.GET, OBJECT_URL, body=b"never")

    with caplog.at_level(logging.DEBUG), pytest.raises(DCSAuthError) as excinfo:
        client.get_object("Pub", "Book", "a.mp3")

    message = str(excinfo.value)
    assert message.startswith("DCS login failed:")
    assert "401" in message
    assert "Invalid credentials" in message
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors
    assert "401" in errors[0].getMessage()
    assert "Invalid credentials" in errors[0].getMessage()
    assert PASSWORD not in caplog.text
    assert EMAIL not in caplog.text
    assert PASSWORD not in message
    assert EMAIL not in message
    assert object_calls(rsps) == []


def test_login_422_does_not_echo_the_input(rsps, client, caplog):
    # FastAPI validation errors echo the request body in "input".
    detail = [
        {
            "type": "missing",
            "loc": ["body", "email"],
            "msg": "Field required",
            "input": {"password": PASSWORD, "email": EMAIL},
        }
    ]
    rsps.add(responses.POST, LOGIN_URL, status=422, json={"detail": detail})

    with caplog.at_level(logging.DEBUG), pytest.raises(DCSAuthError) as excinfo:
        client.login()

    assert "422" in str(excinfo.value)
    assert "body.email: Field required" in str(excinfo.value)
    assert PASSWORD not in caplog.text
    assert PASSWORD not in str(excinfo.value)
    assert EMAIL not in caplog.text


def test_login_detail_echoing_secrets_is_scrubbed(rsps, client, caplog):
    rsps.add(
        responses.POST,
        LOGIN_URL,
        status=401,
        json={"detail": f"bad password {PASSWORD} for {EMAIL.upper()}"},
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(DCSAuthError) as excinfo:
        client.login()
    assert PASSWORD not in str(excinfo.value)
    assert EMAIL.upper() not in str(excinfo.value)
    assert PASSWORD not in caplog.text
    assert EMAIL.upper() not in caplog.text


@pytest.mark.parametrize(
    ("error", "timed_out"),
    [
        (requests.ConnectionError("refused"), False),
        (requests.ConnectTimeout(), True),
        (requests.ReadTimeout(), True),
    ],
)
def test_login_connection_problems_raise_auth_error(rsps, client, caplog, error, timed_out):
    rsps.add(responses.POST, LOGIN_URL, body=error)
    with caplog.at_level(logging.ERROR), pytest.raises(DCSAuthError, match="DCS login failed") as e:
        client.login()
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    assert isinstance(e.value, DCSTimeout) is timed_out  # a login that waited in vain: a 504


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"access_token": ""}', b"[1]"])
def test_login_malformed_answer_raises_auth_error(rsps, client, body):
    rsps.add(responses.POST, LOGIN_URL, body=body)
    with pytest.raises(DCSAuthError, match="access_token"):
        client.login()


def test_login_5xx_raises_auth_error(rsps, client):
    rsps.add(responses.POST, LOGIN_URL, status=500, body="Internal Server Error")
    with pytest.raises(DCSAuthError, match="500"):
        client.login()


# --- status and transport error mapping ----------------------------------------------------


@pytest.fixture
def logged_in(client, cache):
    cache.set(client.tokens.key, TOKEN, 600)
    return client


def test_404_raises_not_found(rsps, logged_in):
    rsps.add(responses.GET, OBJECT_URL, status=404, json={"detail": "File not found"})
    with pytest.raises(DCSNotFound, match="File not found"):
        logged_in.get_object("Pub", "Book", "missing.mp3")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_raises_unavailable_with_status(rsps, logged_in, status):
    rsps.add(responses.GET, OBJECT_URL, status=status, body="Internal Server Error")
    with pytest.raises(DCSUnavailable) as excinfo:
        logged_in.get_object("Pub", "Book", "a.mp3")
    assert not isinstance(excinfo.value, DCSAuthError)
    assert str(status) in str(excinfo.value)
    assert TOKEN not in str(excinfo.value)


@pytest.mark.parametrize("status", [400, 422])
def test_400_422_raise_unavailable_with_detail(rsps, logged_in, status):
    rsps.add(
        responses.GET,
        OBJECT_URL,
        status=status,
        json={"detail": "path must not traverse directories"},
    )
    with pytest.raises(DCSUnavailable, match="path must not traverse directories"):
        logged_in.get_object("Pub", "Book", "a.mp3")


def test_403_raises_auth_error(rsps, logged_in, caplog):
    rsps.add(responses.GET, OBJECT_URL, status=403, json={"detail": "Not authenticated"})
    with caplog.at_level(logging.ERROR), pytest.raises(DCSAuthError, match="403"):
        logged_in.get_object("Pub", "Book", "a.mp3")
    assert login_calls(rsps) == 0  # a 403 is not retried
    assert any("Not authenticated" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("status", [301, 405, 418])
def test_unexpected_status_raises_unavailable(rsps, logged_in, status):
    rsps.add(responses.GET, OBJECT_URL, status=status, headers={"Location": "http://x/"})
    with pytest.raises(DCSUnavailable, match=str(status)):
        logged_in.get_object("Pub", "Book", "a.mp3")


@pytest.mark.parametrize("error", [requests.ConnectTimeout(), requests.ReadTimeout()])
def test_timeouts_raise_dcs_timeout(rsps, logged_in, error):
    rsps.add(responses.GET, OBJECT_URL, body=error)
    rsps.add(responses.GET, LIST_URL, body=error)
    with pytest.raises(DCSTimeout):
        logged_in.get_object("Pub", "Book", "a.mp3")
    with pytest.raises(DCSTimeout):
        logged_in.list_book("Pub", "Book")


def test_connection_error_raises_unavailable(rsps, logged_in):
    rsps.add(responses.GET, OBJECT_URL, body=requests.ConnectionError("Connection refused"))
    with pytest.raises(DCSUnavailable) as excinfo:
        logged_in.get_object("Pub", "Book", "a.mp3")
    assert not isinstance(excinfo.value, DCSTimeout)


def test_exception_hierarchy():
    assert issubclass(DCSAuthError, DCSUnavailable)
    for cls in (DCSNotFound, DCSUnavailable, DCSTimeout, DCSAuthError):
        assert issubclass(cls, DCSError)
    assert not issubclass(DCSTimeout, DCSUnavailable)


# --- request shape --------------------------------------------------------------------------


@pytest.mark.parametrize("range_header", ["bytes=0-9", "bytes=0-9,20-29", "items=0-1", ""])
def test_range_header_forwarded_exactly(rsps, logged_in, range_header):
    rsps.add(responses.GET, OBJECT_URL, status=206, body=b"x")
    logged_in.get_object("Pub", "Book", "a.mp3", range_header=range_header).close()
    assert rsps.calls[0].request.headers["Range"] == range_header


def test_range_header_absent_when_none(rsps, logged_in):
    rsps.add(responses.GET, OBJECT_URL, body=b"x")
    logged_in.get_object("Pub", "Book", "a.mp3").close()
    headers = rsps.calls[0].request.headers
    assert "Range" not in headers
    assert headers["Accept-Encoding"] == "identity"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Cookie" not in headers


def test_publisher_and_book_are_percent_encoded_and_path_in_query(rsps, logged_in):
    path = "şarkılar/Ünite 1/müzik #1 & more?+.mp3"  # only a Latin-1 basename is served
    rsps.add(
        responses.GET,
        f"{BASE}/storage/books/Yay%C4%B1n%20Evi/Kitap%20Bir%20%C4%9F%25/object",
        body=b"x",
        match=[matchers.query_param_matcher({"path": path})],
    )
    logged_in.get_object("Yayın Evi", "Kitap Bir ğ%", path).close()

    url = urlsplit(rsps.calls[0].request.url)
    assert url.path == "/storage/books/Yay%C4%B1n%20Evi/Kitap%20Bir%20%C4%9F%25/object"
    assert parse_qs(url.query) == {"path": [path]}


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b"])
def test_names_dcs_would_reject_are_refused_without_a_request(rsps, logged_in, name):
    # requests/urllib3 would turn ".." into another URL; DCS answers 400 to all of these.
    with pytest.raises(UnservableName, match="Invalid DCS publisher or book name"):
        logged_in.get_object(name, "Book", "a.mp3")
    with pytest.raises(UnservableName, match="Invalid DCS publisher or book name"):
        logged_in.list_book("Pub", name)
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("status", [200, 206, 416])
def test_passthrough_statuses_return_upstream_response(rsps, logged_in, status):
    headers = {"ETag": '"abc"', "Content-Range": "bytes */10"}
    rsps.add(responses.GET, OBJECT_URL, status=status, headers=headers, body=b"")
    with logged_in.get_object("Pub", "Book", "a.mp3", range_header="bytes=0-0") as upstream:
        assert isinstance(upstream, UpstreamResponse)
        assert upstream.status == status
        assert upstream.headers["etag"] == '"abc"'  # case-insensitive
        assert upstream.headers["CONTENT-RANGE"] == "bytes */10"


# --- body streaming -------------------------------------------------------------------------


def test_iter_body_yields_exact_bytes(rsps, logged_in):
    body = bytes(range(256)) * 777  # 198,912 bytes
    rsps.add(responses.GET, OBJECT_URL, body=body)
    with logged_in.get_object("Pub", "Book", "a.mp3") as upstream:
        chunks = list(upstream.iter_body(32 * 1024))
    assert b"".join(chunks) == body
    assert all(0 < len(c) <= 32 * 1024 for c in chunks)


def test_iter_body_does_not_decode(rsps, logged_in):
    compressed = gzip.compress(b"hello " * 100)
    rsps.add(responses.GET, OBJECT_URL, body=compressed, headers={"Content-Encoding": "gzip"})
    with logged_in.get_object("Pub", "Book", "a.json") as upstream:
        assert b"".join(upstream.iter_body(1000)) == compressed


def test_cut_body_raises_unavailable(rsps, logged_in):
    rsps.add(responses.GET, OBJECT_URL, body=b"x" * 10, headers={"Content-Length": "100"})
    with logged_in.get_object("Pub", "Book", "a.mp3") as upstream:
        chunks = upstream.iter_body(4)
        with pytest.raises(DCSUnavailable, match="broke off"):
            b"".join(chunks)


def test_close_and_release_are_idempotent(rsps, logged_in):
    rsps.add(responses.GET, OBJECT_URL, body=b"abcdef")
    upstream = logged_in.get_object("Pub", "Book", "a.mp3")
    upstream.close()
    upstream.close()
    upstream.release()
    assert list(upstream.iter_body(2)) == []  # closed: nothing more

    upstream = logged_in.get_object("Pub", "Book", "a.mp3")
    upstream.release()
    upstream.release()
    upstream.close()


def test_release_drains_a_small_remainder(rsps, logged_in):
    rsps.add(responses.GET, OBJECT_URL, body=b"a" * 1000, auto_calculate_content_length=True)
    upstream = logged_in.get_object("Pub", "Book", "a.mp3")
    assert next(upstream.iter_body(100)) == b"a" * 100
    upstream.release(drain_limit=64 * 1024)
    assert upstream._eof
    assert upstream._consumed == 1000
    assert upstream._closed


def test_release_does_not_drain_a_large_remainder(rsps, logged_in):
    rsps.add(responses.GET, OBJECT_URL, body=b"a" * 10_000, auto_calculate_content_length=True)
    upstream = logged_in.get_object("Pub", "Book", "a.mp3")
    upstream.release(drain_limit=1000)
    assert upstream._consumed == 0
    assert upstream._closed


def test_release_of_a_416_drains_its_json(rsps, logged_in):
    rsps.add(
        responses.GET,
        OBJECT_URL,
        status=416,
        json={"detail": "Requested range not satisfiable"},
        headers={"Content-Range": "bytes */10"},
        auto_calculate_content_length=True,
    )
    upstream = logged_in.get_object("Pub", "Book", "a.mp3", range_header="bytes=99-")
    upstream.release()
    assert upstream._eof
    assert upstream._closed


# --- listing --------------------------------------------------------------------------------


def test_list_book_flattens_strips_prefix_and_sorts(rsps, logged_in, caplog):
    tree = {
        "path": "Pub/books/Book/",
        "type": "folder",
        "children": [
            {
                "path": "Pub/books/Book/audio/",
                "type": "folder",
                "children": [
                    {"path": "Pub/books/Book/audio/08.mp3", "type": "file", "size": 782836},
                    {"path": "Pub/books/Book/audio/01.mp3", "type": "file", "size": 5},
                    {
                        "path": "Pub/books/Book/audio/deep/",
                        "type": "folder",
                        "children": [
                            {
                                "path": "Pub/books/Book/audio/deep/x.vtt",
                                "type": "file",
                                "size": 0,
                                "children": [],
                            }
                        ],
                    },
                ],
            },
            {"path": "Pub/books/Book/config.json", "type": "file", "size": 123, "children": []},
            {"path": "Other/books/Book/evil.mp3", "type": "file", "size": 1, "children": []},
            {"path": "Pub/books/Book/empty/", "type": "folder", "children": []},
        ],
    }
    rsps.add(responses.GET, LIST_URL, json=tree)

    with caplog.at_level(logging.WARNING):
        files = logged_in.list_book("Pub", "Book")

    assert files == [
        DCSFile("audio/01.mp3", 5),
        DCSFile("audio/08.mp3", 782836),
        DCSFile("audio/deep/x.vtt", 0),
        DCSFile("config.json", 123),
    ]
    assert any("Other/books/Book/evil.mp3" in r.getMessage() for r in caplog.records)
    headers = rsps.calls[0].request.headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Accept-Encoding"] == "identity"


def test_list_book_empty(rsps, logged_in):
    rsps.add(responses.GET, LIST_URL, json={"path": "Pub/books/Book/", "type": "folder"})
    assert logged_in.list_book("Pub", "Book") == []


def test_list_book_encodes_names(rsps, logged_in):
    prefix = "Yayın Evi/books/Kitap 1/"
    tree = {
        "path": prefix,
        "type": "folder",
        "children": [{"path": f"{prefix}ses/ş.mp3", "type": "file", "size": 3}],
    }
    rsps.add(responses.GET, f"{BASE}/storage/books/Yay%C4%B1n%20Evi/Kitap%201", json=tree)
    assert logged_in.list_book("Yayın Evi", "Kitap 1") == [DCSFile("ses/ş.mp3", 3)]


def test_list_book_404(rsps, logged_in):
    rsps.add(responses.GET, LIST_URL, status=404, json={"detail": "Book not found"})
    with pytest.raises(DCSNotFound):
        logged_in.list_book("Pub", "Book")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"type": "folder", "children": "nope"}).encode(),
        json.dumps({"type": "folder", "children": [{"type": "file", "path": "x"}]}).encode(),
        json.dumps({"type": "file", "path": "Pub/books/Book/a", "size": "12"}).encode(),
    ],
)
def test_list_book_malformed_raises_unavailable(rsps, logged_in, body):
    rsps.add(responses.GET, LIST_URL, body=body)
    with pytest.raises(DCSUnavailable, match="malformed"):
        logged_in.list_book("Pub", "Book")


@pytest.mark.parametrize("status", [500, 502])
def test_list_book_5xx(rsps, logged_in, status):
    rsps.add(responses.GET, LIST_URL, status=status)
    with pytest.raises(DCSUnavailable, match=str(status)):
        logged_in.list_book("Pub", "Book")


# --- single-flight re-login ---------------------------------------------------------------


def test_concurrent_401s_cause_exactly_one_login(rsps, client, cache):
    threads = 8
    cache.set(client.tokens.key, STALE, 600)
    counter = {"login": 0}
    counter_lock = threading.Lock()

    def login_callback(request):
        with counter_lock:
            counter["login"] += 1
        time.sleep(0.2)
        return 200, {}, json.dumps({"access_token": FRESH, "token_type": "bearer"})

    # Every thread must have received its 401 before the first login can happen.
    barrier = threading.Barrier(threads, timeout=5)

    def object_callback(request):
        if request.headers["Authorization"] == f"Bearer {STALE}":
            barrier.wait()
            return 401, {}, '{"detail": "Invalid token"}'
        return 200, {}, b"media"

    rsps.add_callback(responses.POST, LOGIN_URL, callback=login_callback)
    rsps.add_callback(responses.GET, OBJECT_URL, callback=object_callback)

    def fetch(_):
        with client.get_object("Pub", "Book", "a.mp3") as upstream:
            return upstream.status, b"".join(upstream.iter_body(64))

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(fetch, range(threads)))

    assert results == [(200, b"media")] * threads
    assert counter["login"] == 1
    assert len(object_calls(rsps)) == 2 * threads
    assert cache.get(client.tokens.lock_key) is None


def test_concurrent_threads_share_one_failed_login(rsps, client, cache):
    threads = 8
    counter = {"login": 0}
    counter_lock = threading.Lock()

    def login_callback(request):
        with counter_lock:
            counter["login"] += 1
        time.sleep(0.2)
        return 401, {}, '{"detail": "Invalid credentials"}'

    rsps.add_callback(responses.POST, LOGIN_URL, callback=login_callback)
    start = threading.Barrier(threads, timeout=5)

    def fetch(_):
        start.wait()
        try:
            client.get_object("Pub", "Book", "a.mp3")
        except DCSAuthError as exc:
            return str(exc)
        return "no error"

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(fetch, range(threads)))

    assert all(r.startswith("DCS login failed") for r in results), results
    assert counter["login"] == 1


def test_waits_for_another_process_login(rsps, client, cache):
    cache.set(client.tokens.key, STALE, 600)
    assert cache.add(client.tokens.lock_key, 1, 10)  # another worker process is logging in
    rsps.add_callback(responses.GET, OBJECT_URL, callback=token_401_callback(FRESH))

    timer = threading.Timer(0.2, cache.set, (client.tokens.key, FRESH, 600))
    timer.start()
    try:
        with client.get_object("Pub", "Book", "a.mp3") as upstream:
            assert upstream.status == 200
    finally:
        timer.cancel()

    assert login_calls(rsps) == 0
    assert cache.get(client.tokens.lock_key) == 1  # not ours to release


def test_logs_in_itself_when_other_process_takes_too_long(rsps, client, cache, monkeypatch):
    monkeypatch.setattr(tokens, "LOGIN_WAIT", 0.2)
    cache.set(client.tokens.key, STALE, 600)
    assert cache.add(client.tokens.lock_key, 1, 10)
    add_login(rsps, FRESH)
    rsps.add_callback(responses.GET, OBJECT_URL, callback=token_401_callback(FRESH))

    started = time.monotonic()
    with client.get_object("Pub", "Book", "a.mp3") as upstream:
        assert upstream.status == 200
    assert time.monotonic() - started >= 0.2
    assert login_calls(rsps) == 1


# --- resilience and wiring ------------------------------------------------------------------


class BrokenCache(LocMemCache):
    def get(self, *args, **kwargs):
        raise ConnectionError("cache down")

    def set(self, *args, **kwargs):
        raise ConnectionError("cache down")

    def add(self, *args, **kwargs):
        raise ConnectionError("cache down")

    def delete(self, *args, **kwargs):
        raise ConnectionError("cache down")


def test_cache_outage_falls_back_to_the_process_copy(rsps):
    client = DCSClient(
        BASE,
        EMAIL,
        PASSWORD,
        connect_timeout=1,
        read_timeout=1,
        pool_size=2,
        cache=BrokenCache(f"broken-{uuid.uuid4().hex}", {}),
    )
    add_login(rsps)
    rsps.add(responses.GET, OBJECT_URL, body=b"x")
    for _ in range(3):
        client.get_object("Pub", "Book", "a.mp3").close()
    assert login_calls(rsps) == 1


def test_session_pool_configuration(client):
    adapter = client.session.get_adapter("https://dcs.example/")
    assert adapter is client.session.get_adapter("http://dcs.example/")
    assert adapter._pool_maxsize == 4
    assert adapter._pool_block is False
    # One retry, only for a GET on a reused connection DCS closed (tests/integration/
    # test_dcs_connections.py); connect errors and timeouts are never retried.
    assert isinstance(adapter.max_retries, StaleConnectionRetry)
    assert adapter.max_retries.total == 1
    assert adapter.max_retries.connect == 0
    assert adapter.max_retries.read is False


def test_get_dcs_client_is_a_singleton_from_settings(settings):
    settings.DCS_BASE_URL = "http://dcs.settings.test"
    settings.DCS_POOL_SIZE = 7
    dcs.get_dcs_client.cache_clear()
    try:
        first = dcs.get_dcs_client()
        assert first is dcs.get_dcs_client()
        assert first.base_url == "http://dcs.settings.test"
        assert first.session.get_adapter("http://x/")._pool_maxsize == 7
    finally:
        dcs.get_dcs_client.cache_clear()


@pytest.mark.parametrize("path", ["şarkı.mp3", "audio/ığdır.mp3", "İngilizce.mp3", "ğ.srt"])
def test_file_names_outside_latin1_are_refused_without_a_request(rsps, logged_in, path):
    # DCS answers them with a 500 after its lookup (docs/dcs.md): never worth asking.
    with pytest.raises(UnservableName, match="outside Latin-1"):
        logged_in.get_object("Pub", "Book", path)
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("path", ["müzik.mp3", "şarkılar/ok.mp3", "Ünite 1/a.mp3"])
def test_latin1_basenames_are_asked_for(rsps, logged_in, path):
    rsps.add(responses.GET, OBJECT_URL, body=b"x")
    with logged_in.get_object("Pub", "Book", path) as upstream:
        assert upstream.status == 200
    assert parse_qs(urlsplit(rsps.calls[-1].request.url).query) == {"path": [path]}
