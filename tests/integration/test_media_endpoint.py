"""The media endpoint end to end: a real client, the LMS under gunicorn, the DCS emulator.

Every test runs twice: straight to gunicorn (streaming mode), and through a
real nginx with the shipped config in offload mode. Every test compares exact
bytes with the source file and, where it matters, counts what reached DCS.
"""

import hashlib
import json
import time
import uuid
from email.parser import BytesParser
from email.policy import HTTP

import pytest
import requests

from media_proxy.headers import CONTENT_SECURITY_POLICY, PLAYABLE_POLICY
from tests import media
from tests.factories import bearer, make_book, make_user, session_cookie, student_with_book
from tests.wire import fetch_raw, media_path

pytestmark = pytest.mark.wire

ONE_MIB = "data/random-1m.bin"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


SERVERS = {
    "streaming": "lms_server",
    "nginx-offload": "lms_offload_server",
    "presigned": "lms_presigned_server",
    "presigned-offload": "lms_presigned_offload_server",
}


@pytest.fixture(params=SERVERS)
def lms(request, transactional_db, dcs):
    server = request.getfixturevalue(SERVERS[request.param])
    server.presigned = request.param.startswith("presigned")  # reads from the object store
    return server


def object_reads(dcs) -> int:
    """Reads of object bytes: DCS's object endpoint plus the store behind presigned URLs."""
    return dcs.stats.object_requests + dcs.store_stats.request_count


def assert_upstream_requests(lms, dcs, expected: int) -> None:
    """Streaming: exactly `expected` reads. Offload: nginx's, plus at most one probe by
    Django when the object's size and ETag were not cached yet."""
    if lms.offload:
        assert object_reads(dcs) <= expected + 1
    else:
        assert object_reads(dcs) == expected, [
            (r.method, r.path, r.headers.get("Range"), r.status)
            for r in [*dcs.stats.requests, *dcs.store_stats.requests]
        ]


@pytest.fixture
def student(lms):
    user, book = student_with_book()
    return user, book


def get(lms, book, path, user, headers=None, method="GET", session=None):
    caller = session or requests
    return caller.request(
        method,
        lms.url(media_path(book, path)),
        headers={**bearer(user), **(headers or {})},
        timeout=10,
    )


# --- the common cases: exact bytes, one upstream request ---------------------------------


@pytest.mark.parametrize(
    ("path", "range_header", "status", "content_range", "expected"),
    [
        (ONE_MIB, None, 200, None, slice(None)),
        (ONE_MIB, "bytes=100-199", 206, "bytes 100-199/1048576", slice(100, 200)),
        (ONE_MIB, "bytes=0-1", 206, "bytes 0-1/1048576", slice(0, 2)),
        (ONE_MIB, "bytes=0-", 206, "bytes 0-1048575/1048576", slice(None)),
        (ONE_MIB, "bytes=1000000-", 206, "bytes 1000000-1048575/1048576", slice(1000000, None)),
        (ONE_MIB, "bytes=-500", 206, "bytes 1048076-1048575/1048576", slice(-500, None)),
        (ONE_MIB, "bytes=-2000000", 206, "bytes 0-1048575/1048576", slice(None)),
        ("data/hello.txt", "bytes=5-1000", 206, "bytes 5-10/11", slice(5, None)),
        ("data/hello.txt", "Bytes=0-4", 206, "bytes 0-4/11", slice(0, 5)),
        ("data/hello.txt", "items=0-4", 200, None, slice(None)),
        ("data/one.bin", "bytes=0-1", 206, "bytes 0-0/1", slice(None)),
    ],
    ids=[
        "full",
        "single",
        "safari-probe",
        "chrome-open",
        "open-ended",
        "suffix",
        "suffix-longer-than-file",
        "past-end-clamp",
        "unit-case",
        "unknown-unit",
        "past-end-tiny",
    ],
)
def test_range_answers_are_exact_and_cost_one_upstream_request(
    lms, dcs, student, path, range_header, status, content_range, expected
):
    user, book = student
    headers = {"Range": range_header} if range_header else {}
    response = get(lms, book, path, user, headers)
    source = media.file_bytes(path)
    assert response.status_code == status
    assert response.headers.get("Content-Range") == content_range
    assert sha(response.content) == sha(source[expected])
    assert response.headers["Content-Length"] == str(len(source[expected]))
    assert response.headers["Accept-Ranges"] == "bytes"
    assert_upstream_requests(lms, dcs, 1)


def test_response_headers(lms, dcs, student):
    user, book = student
    response = get(lms, book, "audio/08.mp3", user, {"Range": "bytes=0-1"})
    assert response.status_code == 206
    assert response.headers["Content-Type"] == "audio/mpeg"
    assert response.headers["Cache-Control"] == "private, max-age=86400"
    assert response.headers["Vary"] == "Cookie, Authorization"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # Plays when opened in a tab (a sandboxed media document could not load itself)
    assert response.headers["Content-Security-Policy"] == PLAYABLE_POLICY
    assert response.headers["Content-Disposition"] == 'inline; filename="08.mp3"'
    assert response.headers["ETag"].startswith('"')


@pytest.mark.parametrize("path", ["pages/readme.html", "pages/logo.svg", "data/random-1m.bin"])
def test_what_could_run_as_a_page_is_sandboxed(lms, student, media_root, path):
    user, book = student
    target = media_root / media.PUBLISHER / "books" / media.BOOK / path
    target.parent.mkdir(exist_ok=True)
    if not target.exists():
        target.write_bytes(b"<script>document.title='ran'</script>")
    response = get(lms, book, path, user)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["Content-Security-Policy"].startswith("sandbox;")
    assert "Content-Encoding" not in response.headers


def test_media_is_never_compressed(lms, student):
    user, book = student
    response = get(lms, book, "data/hello.txt", user, {"Accept-Encoding": "gzip, br"})
    assert "Content-Encoding" not in response.headers
    assert response.content == b"hello world"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_unicode_path_and_rfc5987_filename(lms, student):
    user, book = student
    response = get(lms, book, "Ünite 1/müzik.mp3", user)
    assert response.status_code == 200
    assert response.content == media.file_bytes("Ünite 1/müzik.mp3")
    assert response.headers["Content-Disposition"] == "inline; filename*=utf-8''m%C3%BCzik.mp3"


@pytest.mark.parametrize("range_header", [None, "bytes=3-9"])
def test_names_dcs_cannot_serve_are_read_through_the_store(lms, dcs, student, range_header):
    user, book = student
    expected = media.file_bytes("Ünite 2/şarkı.mp3")
    headers = {"Range": range_header} if range_header else None
    response = get(lms, book, "Ünite 2/şarkı.mp3", user, headers)
    assert response.status_code == (206 if range_header else 200)
    assert response.content == (expected[3:10] if range_header else expected)
    assert response.headers["Content-Disposition"] == "inline; filename*=utf-8''%C5%9Fark%C4%B1.mp3"
    assert dcs.stats.object_requests == 0  # DCS's object endpoint would answer 500


def test_without_presign_rights_a_name_dcs_cannot_serve_is_a_clear_422(
    lms, dcs, student, media_root
):
    """(With DCS_PRESIGNED, an account that may not presign is a misconfiguration: 502.)"""
    user, book = student
    name = f"tricky/ığdır-{uuid.uuid4().hex}.mp3"  # no presigned URL cached for it yet
    target = media_root / media.PUBLISHER / "books" / media.BOOK / name
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(b"song")
    dcs.admin = False
    since = len(lms.log_lines())
    try:
        for _ in range(2):
            response = get(lms, book, name, user)
            assert response.status_code == (502 if lms.presigned else 422)
            if not lms.presigned:
                assert "Latin-1" in response.json()["detail"]
        assert dcs.stats.object_requests == 0
        if not lms.presigned:
            assert dcs.stats.presigned_requests <= 1 + lms.offload  # then it is remembered
            said = [line for line in lms.log_lines()[since:] if name.split("/")[1] in line]
            said = [line for line in said if "media_stream" not in line]
            assert len(said) == 2  # one line per request
            assert all(" WARNING " in line for line in said)
    finally:
        time.sleep(1.1)  # the LMS forgets the refusal after DCS_PRESIGN_RETRY_AFTER (1 s here)


def test_subtitle_types(lms, student):
    user, book = student
    vtt = get(lms, book, "videos/unit 1/intro.vtt", user)
    assert vtt.headers["Content-Type"] == "text/vtt; charset=utf-8"
    assert vtt.content == media.file_bytes("videos/unit 1/intro.vtt")


# --- multipart ---------------------------------------------------------------------------


def parse_multipart(content_type: str, body: bytes) -> list[tuple[dict, bytes]]:
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    return [(dict(part.items()), part.get_payload(decode=True)) for part in message.iter_parts()]


def test_multi_range_is_multipart_with_exact_length(lms, dcs, student):
    user, book = student
    source = media.file_bytes(ONE_MIB)
    response = get(lms, book, ONE_MIB, user, {"Range": "bytes=0-9,500000-500099,-10"})
    assert response.status_code == 206
    assert response.headers["Content-Type"].startswith("multipart/byteranges; boundary=")
    assert response.headers["Content-Length"] == str(len(response.content))
    parts = parse_multipart(response.headers["Content-Type"], response.content)
    assert [(p["Content-Range"], payload) for p, payload in parts] == [
        ("bytes 0-9/1048576", source[0:10]),
        ("bytes 500000-500099/1048576", source[500000:500100]),
        ("bytes 1048566-1048575/1048576", source[-10:]),
    ]
    assert all(p["Content-Type"] == "application/octet-stream" for p, _ in parts)
    assert object_reads(dcs) <= 1 + 3 + lms.offload


def test_overlapping_ranges_are_coalesced_into_one_part(lms, dcs, student):
    user, book = student
    response = get(lms, book, "data/hello.txt", user, {"Range": "bytes=0-3, 2-6"})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == "bytes 0-6/11"
    assert response.content == b"hello w"
    assert object_reads(dcs) <= 2 + lms.offload


def test_many_ranges_are_answered_whole(lms, student):
    user, book = student
    ranges = ",".join(f"{i * 10}-{i * 10 + 1}" for i in range(40))
    response = get(lms, book, ONE_MIB, user, {"Range": f"bytes={ranges}"})
    assert response.status_code == 200
    assert sha(response.content) == sha(media.file_bytes(ONE_MIB))


def test_ranges_adding_up_past_the_file_are_answered_whole(lms, student):
    user, book = student
    response = get(lms, book, "data/hello.txt", user, {"Range": "bytes=0-,0-,0-"})
    assert response.status_code == 200
    assert response.content == b"hello world"


# --- unsatisfiable and invalid ----------------------------------------------------------


PROBED = ("bytes=5-1", "bytes=abc", "bytes=-0")  # invalid or -0: the LMS sends its probe


def dcs_etag(path: str) -> str:
    return f'"{hashlib.md5(media.file_bytes(path)).hexdigest()}"'


@pytest.mark.parametrize(
    ("path", "range_header", "size"),
    [
        ("data/hello.txt", "bytes=5-1", 11),
        ("data/hello.txt", "bytes=abc", 11),
        ("data/hello.txt", "bytes=11-", 11),
        ("data/hello.txt", "bytes=-0", 11),
        ("data/hello.txt", "bytes=99999999999999999999999-", 11),
        ("data/empty.bin", "bytes=0-", 0),
        ("data/empty.bin", "bytes=-5", 0),
    ],
)
def test_unsatisfiable_is_416_with_the_size(lms, dcs, student, path, range_header, size):
    user, book = student
    response = get(lms, book, path, user, {"Range": range_header})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{size}"
    assert response.json()["detail"]
    assert response.headers["ETag"] == dcs_etag(path)
    # DCS's own 416 has no ETag: with the size cached the LMS sends its probe instead
    # (one request); without, one more request learns it.
    assert object_reads(dcs) <= (1 if range_header in PROBED else 2) + lms.offload


def test_empty_object_without_range(lms, student):
    user, book = student
    response = get(lms, book, "data/empty.bin", user)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Content-Length"] == "0"


# --- preconditions -----------------------------------------------------------------------


@pytest.fixture
def etag(lms, student):
    user, book = student
    return get(lms, book, ONE_MIB, user, {"Range": "bytes=0-0"}).headers["ETag"]


def test_if_range_match_keeps_the_range(lms, dcs, student, etag):
    user, book = student
    dcs.reset()
    response = get(lms, book, ONE_MIB, user, {"Range": "bytes=10-19", "If-Range": etag})
    assert response.status_code == 206
    assert response.content == media.file_bytes(ONE_MIB)[10:20]
    assert_upstream_requests(lms, dcs, 1)


@pytest.mark.parametrize(
    "if_range", ['"not-the-etag"', "W/{etag}", "Tue, 24 Nov 2026 00:00:00 GMT", "garbage"]
)
def test_if_range_mismatch_sends_the_whole_body(lms, dcs, student, etag, if_range):
    user, book = student
    dcs.reset()
    headers = {"Range": "bytes=10-19", "If-Range": if_range.format(etag=etag)}
    response = get(lms, book, ONE_MIB, user, headers)
    assert response.status_code == 200
    assert sha(response.content) == sha(media.file_bytes(ONE_MIB))
    assert object_reads(dcs) <= 2 + lms.offload


@pytest.mark.parametrize(
    ("if_none_match", "range_header"),
    [
        ("{etag}", None),
        ("W/{etag}", None),
        ('"other", {etag}', None),
        ("*", None),
        ("{etag}", "bytes=0-99"),
    ],
)
def test_if_none_match_is_304_and_beats_range(lms, student, etag, if_none_match, range_header):
    user, book = student
    headers = {"If-None-Match": if_none_match.format(etag=etag)}
    if range_header:
        headers["Range"] = range_header
    response = get(lms, book, ONE_MIB, user, headers)
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == etag
    assert response.headers["Cache-Control"] == "private, max-age=86400"
    # RFC 9110 8.6: a 304's Content-Length is absent or the 200's, never 0.
    assert response.headers.get("Content-Length") in (None, str(len(media.file_bytes(ONE_MIB))))


def test_if_none_match_other_etag_serves(lms, student, etag):
    user, book = student
    response = get(lms, book, ONE_MIB, user, {"If-None-Match": '"other"'})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("if_match", "status"), [('"other"', 412), ("W/{etag}", 412), ("{etag}", 206), ("*", 206)]
)
def test_if_match(lms, student, etag, if_match, status):
    user, book = student
    headers = {"If-Match": if_match.format(etag=etag), "Range": "bytes=0-9"}
    response = get(lms, book, ONE_MIB, user, headers)
    assert response.status_code == status


# --- HEAD --------------------------------------------------------------------------------


@pytest.mark.parametrize("range_header", [None, "bytes=0-1", "bytes=5-1000", "bytes=0-1,4-5"])
def test_head_answers_what_get_would_without_a_body(lms, dcs, student, range_header):
    user, book = student
    headers = {"Range": range_header} if range_header else {}
    head = fetch_raw(lms, "HEAD", media_path(book, "data/hello.txt"), {**bearer(user), **headers})
    assert_upstream_requests(lms, dcs, 1)
    got = get(lms, book, "data/hello.txt", user, headers)
    assert head.status == got.status_code
    assert head.body == b""
    for name in ("Content-Length", "Content-Range", "ETag", "Accept-Ranges", "Cache-Control"):
        assert head.headers.get(name) == got.headers.get(name), name
    assert head.headers["Content-Type"].split(";")[0] == got.headers["Content-Type"].split(";")[0]


@pytest.mark.parametrize(
    ("path", "range_header"),
    [
        ("data/empty.bin", None),
        ("data/empty.bin", "bytes=0-"),
        ("data/hello.txt", "bytes=11-"),
        ("data/hello.txt", "bytes=50-60"),
    ],
)
def test_head_and_get_agree_on_empty_objects_and_unsatisfiable_ranges(
    lms, student, path, range_header
):
    user, book = student
    headers = {**bearer(user), **({"Range": range_header} if range_header else {})}
    head = fetch_raw(lms, "HEAD", media_path(book, path), headers)
    got = get(lms, book, path, user, {"Range": range_header} if range_header else None)
    again = fetch_raw(lms, "HEAD", media_path(book, path), headers)  # now from the cache
    assert got.headers["ETag"] == dcs_etag(path)
    for name in ("Content-Length", "Content-Range", "ETag", "Accept-Ranges", "Cache-Control"):
        assert head.headers.get(name) == got.headers.get(name) == again.headers.get(name), name


@pytest.mark.parametrize("range_header", [None, "bytes=0-"])
def test_conditional_requests_work_on_an_empty_file(lms, dcs, student, range_header):
    user, book = student
    etag = get(lms, book, "data/empty.bin", user).headers["ETag"]
    assert etag == dcs_etag("data/empty.bin")
    dcs.reset()
    headers = {"If-None-Match": etag, **({"Range": range_header} if range_header else {})}
    response = get(lms, book, "data/empty.bin", user, headers)
    assert response.status_code == 304
    assert response.headers["ETag"] == etag
    assert_upstream_requests(lms, dcs, 1)  # the size and ETag are known: no learning request
    assert get(lms, book, "data/empty.bin", user, {"If-Match": '"other"'}).status_code == 412


# --- who may read ------------------------------------------------------------------------


def test_no_credentials_is_401_with_bearer_challenge(lms, dcs):
    book = make_book()
    response = requests.get(lms.url(media_path(book, ONE_MIB)), timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["detail"]
    assert_upstream_requests(lms, dcs, 0)


def test_bad_token_is_401(lms):
    book = make_book()
    response = requests.get(
        lms.url(media_path(book, ONE_MIB)), headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert response.status_code == 401


def test_session_cookie_reads(lms, student):
    user, book = student
    response = requests.get(
        lms.url(media_path(book, "data/hello.txt")), cookies=session_cookie(user), timeout=10
    )
    assert response.status_code == 200
    assert response.content == b"hello world"


@pytest.mark.parametrize("credential", ["session", "bearer"])
def test_outsider_is_403_and_nothing_goes_upstream(lms, dcs, credential):
    book = make_book()
    outsider = make_user()
    kwargs = (
        {"cookies": session_cookie(outsider)}
        if credential == "session"
        else {"headers": bearer(outsider)}
    )
    response = requests.get(lms.url(media_path(book, ONE_MIB)), timeout=10, **kwargs)
    assert response.status_code == 403
    assert response.json()["detail"]
    assert_upstream_requests(lms, dcs, 0)


@pytest.mark.parametrize("book_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_book_is_404(lms, student, book_id):
    user, _ = student
    response = requests.get(
        lms.url(f"/api/v1/books/{book_id}/media/a.mp3"), headers=bearer(user), timeout=10
    )
    assert response.status_code == 404
    assert response.json()["detail"]


def test_missing_media_is_404(lms, student):
    user, book = student
    response = get(lms, book, "audio/missing.mp3", user)
    assert response.status_code == 404
    assert response.json() == {"detail": "Media not found."}


def test_token_endpoint(lms):
    user = make_user(password="s3cret-pass-word")
    response = requests.post(
        lms.url("/api/v1/auth/token"),
        json={"username": user.username, "password": "s3cret-pass-word"},
        timeout=10,
    )
    assert response.status_code == 200
    assert set(response.json()) == {"token"}
    wrong = requests.post(
        lms.url("/api/v1/auth/token"),
        json={"username": user.username, "password": "wrong"},
        timeout=10,
    )
    assert wrong.status_code == 400


@pytest.mark.parametrize(
    "raw_path",
    [
        "",
        "..%2Fsecret.mp3",
        "a/../b.mp3",
        "a/./b.mp3",
        "a//b.mp3",
        "%2Fetc%2Fpasswd",
        "a%5Cb.mp3",
        "%252e%252e/x.mp3",
        "a%00b.mp3",
        "a%0d%0ab.mp3",
        "%E2%80%A4%E2%80%A4/x.mp3",
        "%c0%ae%c0%ae/x.mp3",
    ],
)
def test_bad_paths_are_400_before_anything_goes_upstream(lms, dcs, student, raw_path):
    user, book = student
    response = fetch_raw(lms, "GET", f"/api/v1/books/{book.pk}/media/{raw_path}", bearer(user))
    assert response.status == 400, raw_path
    assert json.loads(response.body)["detail"]
    assert_upstream_requests(lms, dcs, 0)


# --- what reaches DCS ---------------------------------------------------------------------


def test_client_credentials_never_reach_dcs(lms, dcs, student):
    user, book = student
    cookies = session_cookie(user)
    requests.get(
        lms.url(media_path(book, "data/hello.txt")),
        cookies=cookies,
        headers={"X-Secret": "s"},
        timeout=10,
    )
    get(lms, book, "data/hello.txt", user)
    reads = dcs.store_stats.requests if lms.presigned else dcs.stats.requests
    records = [r for r in reads if "/object" in r.path or lms.presigned]
    assert len(records) >= 2
    for record in records:
        headers = {k.lower(): v for k, v in record.headers.items()}
        assert "cookie" not in headers
        assert headers.get("authorization") != bearer(user)["Authorization"]
        assert "x-secret" not in headers
        if lms.presigned:  # the URL is the credential: no DCS token goes to the store
            assert "authorization" not in headers


def test_no_new_upstream_connection_once_warm(lms, dcs, student):
    user, book = student
    with requests.Session() as client:
        # Chrome's first request: the whole object, read to the end.
        get(lms, book, ONE_MIB, user, {"Range": "bytes=0-"}, session=client)
        warm = dcs.stats.connections_opened
        for header in ["bytes=0-1", "bytes=5000-9999", "bytes=-100", "bytes=100-2000000", None]:
            response = get(
                lms, book, ONE_MIB, user, {"Range": header} if header else {}, session=client
            )
            assert response.status_code in (200, 206)
        assert dcs.stats.connections_opened == warm
        assert_upstream_requests(lms, dcs, 6)
