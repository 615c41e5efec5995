"""GET /storage/books/{publisher}/{book}/object over real sockets: every contract row."""

from __future__ import annotations

import pytest
import requests

from dcs_emulator import Emulator

from .conftest import (
    BOOK_FILES,
    ELEVEN,
    LARGE_FILES,
    MIB,
    TYPE_TABLE,
    md5,
    multipart_etag,
    object_url,
    raw_exchange,
    split_response,
)

pytestmark = pytest.mark.wire

NOT_SATISFIABLE = {"detail": "Requested range not satisfiable"}
BAD_FORMAT = {"detail": "Invalid Range header format"}

# The contract's range table on the 11-byte object "hello world".
# (Range header or None, status, Content-Range, body or 416 JSON)
RANGE_TABLE = [
    (None, 200, None, ELEVEN),
    ("", 200, None, ELEVEN),
    ("bytes=0-9", 206, "bytes 0-9/11", ELEVEN[0:10]),
    ("bytes=3-3", 206, "bytes 3-3/11", ELEVEN[3:4]),
    ("bytes=0-0", 206, "bytes 0-0/11", b"h"),
    ("bytes=0-10", 206, "bytes 0-10/11", ELEVEN),
    ("bytes=0-11", 416, "bytes */11", NOT_SATISFIABLE),  # b >= N: not clamped
    ("bytes=5-999999", 416, "bytes */11", NOT_SATISFIABLE),
    ("bytes=4-", 206, "bytes 4-10/11", ELEVEN[4:]),
    ("bytes=0-", 206, "bytes 0-10/11", ELEVEN),  # 206, not 200
    ("bytes=10-", 206, "bytes 10-10/11", b"d"),
    ("bytes=11-", 416, "bytes */11", NOT_SATISFIABLE),
    ("bytes=-3", 206, "bytes 8-10/11", b"rld"),
    ("bytes=-11", 206, "bytes 0-10/11", ELEVEN),
    ("bytes=-50", 206, "bytes 0-10/11", ELEVEN),  # n > N: whole object as 206
    ("bytes=-0", 416, "bytes */11", NOT_SATISFIABLE),
    ("bytes=-", 416, "bytes */11", NOT_SATISFIABLE),
    ("bytes=5-4", 416, "bytes */11", NOT_SATISFIABLE),
    ("Bytes=0-1", 416, "bytes */11", BAD_FORMAT),
    ("items=0-1", 416, "bytes */11", BAD_FORMAT),
    ("bytes= 0-9", 416, "bytes */11", BAD_FORMAT),
    ("bytes=0-9,20-29", 206, "bytes 0-9/11", ELEVEN[0:10]),  # first range only
    ("bytes=0-1,4-5", 206, "bytes 0-1/11", b"he"),  # never multipart/byteranges
]


@pytest.mark.parametrize(("range_header", "status", "content_range", "expected"), RANGE_TABLE)
def test_range_table(
    emu: Emulator,
    http: requests.Session,
    auth: dict[str, str],
    range_header: str | None,
    status: int,
    content_range: str | None,
    expected: bytes | dict,
) -> None:
    headers = dict(auth)
    if range_header is not None:
        headers["Range"] = range_header
    response = http.get(object_url(emu), params={"path": "eleven.mp3"}, headers=headers)
    assert response.status_code == status
    assert response.headers.get("Content-Range") == content_range
    if status == 416:
        assert response.json() == expected
        assert response.headers["Content-Type"] == "application/json"
        assert "ETag" not in response.headers
    else:
        assert response.content == expected
        assert response.headers["Content-Length"] == str(len(expected))
        assert response.headers["Content-Type"] == "audio/mpeg"
        assert not response.headers["Content-Type"].startswith("multipart/")
    assert emu.stats.requests[-1].headers.get("Range") == range_header


@pytest.mark.parametrize("range_header", ["bytes=0-0", "bytes=0-", "bytes=-1", "bytes=-", "x"])
def test_any_range_on_an_empty_object_is_416(
    emu: Emulator, http: requests.Session, auth: dict[str, str], range_header: str
) -> None:
    response = http.get(
        object_url(emu), params={"path": "empty.mp3"}, headers={**auth, "Range": range_header}
    )
    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */0"
    assert "detail" in response.json()


def test_empty_object_without_range_is_200(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    response = http.get(object_url(emu), params={"path": "empty.mp3"}, headers=auth)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Content-Length"] == "0"
    assert response.headers["ETag"] == f'"{md5(b"")}"'


@pytest.mark.parametrize("range_header", [None, "bytes=2-5"])
def test_response_headers(
    emu: Emulator, http: requests.Session, auth: dict[str, str], range_header: str | None
) -> None:
    headers = {**auth, **({"Range": range_header} if range_header else {})}
    response = http.get(object_url(emu), params={"path": "eleven.mp3"}, headers=headers)
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["ETag"] == f'"{md5(ELEVEN)}"'  # quoted, strong
    assert "Last-Modified" not in response.headers
    assert response.headers["Content-Disposition"] == 'inline; filename="eleven.mp3"'
    assert response.headers["Cache-Control"] == "public, max-age=86400, immutable"
    assert "Connection" not in response.headers  # keep-alive
    if range_header:
        assert response.status_code == 206
        assert response.headers["Content-Length"] == "4"
        assert response.headers["Content-Range"] == "bytes 2-5/11"
    else:
        assert response.status_code == 200
        assert response.headers["Content-Length"] == "11"
        assert "Content-Range" not in response.headers


def test_etag_is_stable_and_follows_the_content(
    emu: Emulator, http: requests.Session, auth: dict[str, str], dcs_root
) -> None:
    target = dcs_root / "Pub" / "books" / "Book" / "mutable.bin"
    target.write_bytes(b"version one")
    first = http.get(object_url(emu), params={"path": "mutable.bin"}, headers=auth)
    again = http.get(object_url(emu), params={"path": "mutable.bin"}, headers=auth)
    assert first.headers["ETag"] == again.headers["ETag"] == f'"{md5(b"version one")}"'
    target.write_bytes(b"version two, longer")
    changed = http.get(object_url(emu), params={"path": "mutable.bin"}, headers=auth)
    assert changed.headers["ETag"] == f'"{md5(b"version two, longer")}"'
    assert changed.content == b"version two, longer"


def test_big_object_streams_whole_and_ranged(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    whole = http.get(object_url(emu), params={"path": "big.bin"}, headers=auth)
    assert whole.content == BOOK_FILES["big.bin"]
    part = http.get(
        object_url(emu), params={"path": "big.bin"}, headers={**auth, "Range": "bytes=40000-99999"}
    )
    assert part.status_code == 206
    assert part.content == BOOK_FILES["big.bin"][40000:100000]
    assert emu.stats.requests[-1].bytes_sent == 60000


@pytest.mark.parametrize(("extension", "expected"), TYPE_TABLE.items())
def test_content_type_and_cache_control_table(
    emu: Emulator,
    http: requests.Session,
    auth: dict[str, str],
    extension: str,
    expected: tuple[str, str],
) -> None:
    path = f"types/sample.{extension}"
    response = http.get(object_url(emu), params={"path": path}, headers=auth)
    assert response.status_code == 200
    assert (response.headers["Content-Type"], response.headers["Cache-Control"]) == expected
    assert response.content == BOOK_FILES[path]


@pytest.mark.parametrize(
    ("path", "content_type", "cache_control"),
    [
        ("subs/lesson.vtt", "text/vtt; charset=utf-8", "public, max-age=3600"),
        ("subs/lesson.srt", "text/plain; charset=utf-8", "public, max-age=3600"),
        ("notes.txt", "application/octet-stream", "public, max-age=3600"),
        ("config.json", "application/json", "private, max-age=3600"),
        ("no_extension", "application/octet-stream", "public, max-age=3600"),
    ],
)
def test_text_charset_and_json_cache(
    emu: Emulator,
    http: requests.Session,
    auth: dict[str, str],
    path: str,
    content_type: str,
    cache_control: str,
) -> None:
    response = http.get(object_url(emu), params={"path": path}, headers=auth)
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Cache-Control"] == cache_control


def test_latin1_basename_goes_out_as_latin1_bytes(emu: Emulator, auth: dict[str, str]) -> None:
    target = "/storage/books/Pub/Book/object?path=%C3%9Cnite%201/m%C3%BCzik.mp3"
    raw = raw_exchange(
        emu,
        f"GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth['Authorization']}\r\n"
        "Connection: close\r\n\r\n".encode(),
    )
    status, headers, body = split_response(raw)
    assert status == 200
    assert b'Content-Disposition: inline; filename="m\xfczik.mp3"' in raw  # not RFC 5987
    assert headers["content-type"] == "audio/mpeg"
    assert body == b"latin-1 name"


def test_latin1_basename_via_requests(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    response = http.get(object_url(emu), params={"path": "Ünite 1/müzik.mp3"}, headers=auth)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'inline; filename="müzik.mp3"'


@pytest.mark.parametrize("range_header", [None, "bytes=0-0"])
def test_basename_outside_latin1_is_a_plain_500(
    emu: Emulator, http: requests.Session, auth: dict[str, str], range_header: str | None
) -> None:
    headers = {**auth, **({"Range": range_header} if range_header else {})}
    response = http.get(object_url(emu), params={"path": "Ünite 1/şarkı.mp3"}, headers=headers)
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_missing_file_with_non_latin1_name_is_404_first(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    response = http.get(object_url(emu), params={"path": "Ünite 1/şeker.mp3"}, headers=auth)
    assert response.status_code == 404
    assert response.json() == {"detail": "File not found"}


def test_non_latin1_name_answers_416_and_304_which_carry_no_filename(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    """Only a response carrying Content-Disposition (200/206) trips the 500."""
    url, params = object_url(emu), {"path": "Ünite 1/şarkı.mp3"}
    refused = http.get(url, params=params, headers={**auth, "Range": "bytes=50-"})
    assert refused.status_code == 416
    etag = md5(b"not latin-1")
    cached = http.get(url, params=params, headers={**auth, "If-None-Match": f'"{etag}"'})
    assert cached.status_code == 304


@pytest.mark.parametrize("path", ["nope.mp3", "subs", "subs/", "", ".", "Ünite 1/nope.mp3"])
def test_missing_object_is_404(
    emu: Emulator, http: requests.Session, auth: dict[str, str], path: str
) -> None:
    response = http.get(object_url(emu), params={"path": path}, headers=auth)
    assert response.status_code == 404
    assert response.json() == {"detail": "File not found"}
    assert response.headers["Content-Type"] == "application/json"


def test_missing_book_or_publisher_is_404(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    for url in (object_url(emu, "Nobody"), object_url(emu, "Pub", "NoBook")):
        response = http.get(url, params={"path": "eleven.mp3"}, headers=auth)
        assert response.status_code == 404
        assert response.json() == {"detail": "File not found"}


# --- If-None-Match ----------------------------------------------------------

ETAG = md5(ELEVEN)


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        (f'"{ETAG}"', 304),
        (ETAG, 304),  # quotes are stripped, so unquoted matches too
        (f'W/"{ETAG}"', 200),  # no weak comparison
        (f'"{ETAG}", "other"', 200),  # no lists
        (f'"other", "{ETAG}"', 200),
        ("*", 200),  # no wildcard
        ('"0123"', 200),
    ],
)
def test_if_none_match(
    emu: Emulator, http: requests.Session, auth: dict[str, str], if_none_match: str, status: int
) -> None:
    response = http.get(
        object_url(emu),
        params={"path": "eleven.mp3"},
        headers={**auth, "If-None-Match": if_none_match},
    )
    assert response.status_code == status
    if status == 304:
        assert response.content == b""
        assert response.headers["ETag"] == f'"{ETAG}"'
        assert response.headers["Cache-Control"] == "public, max-age=86400"  # whatever the type
        assert response.headers["Content-Type"] == "application/json"
        assert "Content-Length" not in response.headers
        assert "Content-Disposition" not in response.headers
        assert "Connection" not in response.headers  # closed all the same (test_connections)
    else:
        assert response.content == ELEVEN


def test_if_none_match_is_ignored_with_a_range(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    response = http.get(
        object_url(emu),
        params={"path": "eleven.mp3"},
        headers={**auth, "If-None-Match": f'"{ETAG}"', "Range": "bytes=0-1"},
    )
    assert response.status_code == 206
    assert response.content == b"he"


@pytest.mark.parametrize(
    "header",
    [
        {"If-Modified-Since": "Wed, 21 Oct 2099 07:28:00 GMT"},
        {"If-Match": '"nope"'},
        {"If-Unmodified-Since": "Wed, 21 Oct 1990 07:28:00 GMT"},
        {"If-Range": '"nope"', "Range": "bytes=0-1"},
    ],
)
def test_other_preconditions_are_ignored(
    emu: Emulator, http: requests.Session, auth: dict[str, str], header: dict[str, str]
) -> None:
    response = http.get(object_url(emu), params={"path": "eleven.mp3"}, headers={**auth, **header})
    assert response.status_code == (206 if "Range" in header else 200)


# --- methods and routes -----------------------------------------------------


@pytest.mark.parametrize("method", ["HEAD", "POST", "PUT", "DELETE"])
def test_only_get_is_allowed_on_objects(
    emu: Emulator, http: requests.Session, auth: dict[str, str], method: str
) -> None:
    response = http.request(method, object_url(emu), params={"path": "eleven.mp3"}, headers=auth)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    if method != "HEAD":
        assert response.json() == {"detail": "Method Not Allowed"}
    else:
        assert response.content == b""


def test_head_is_405_even_without_auth(emu: Emulator, http: requests.Session) -> None:
    response = http.head(object_url(emu), params={"path": "eleven.mp3"})
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


@pytest.mark.parametrize(
    "path",
    ["/", "/storage", "/storage/books/Pub", "/storage/books/Pub/Book/other", "/storage/books//B"],
)
def test_unknown_routes_are_404(emu: Emulator, http: requests.Session, path: str) -> None:
    response = http.get(emu.base_url + path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


# --- path rules -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("  eleven.mp3  ", ELEVEN),
        ("./eleven.mp3", ELEVEN),
        (".//eleven.mp3", ELEVEN),
        ("/eleven.mp3", ELEVEN),
        ("Ünite 1//müzik.mp3", b"latin-1 name"),
        ("Ünite 1/./müzik.mp3/", b"latin-1 name"),
        ("back\\slash.mp3", b"backslash"),
    ],
)
def test_paths_are_normalised(
    emu: Emulator, http: requests.Session, auth: dict[str, str], path: str, content: bytes
) -> None:
    response = http.get(object_url(emu), params={"path": path}, headers=auth)
    assert response.status_code == 200
    assert response.content == content


@pytest.mark.parametrize(
    "query",
    [
        "path=../Book/eleven.mp3",
        "path=Ünite%201/../eleven.mp3",
        "path=..",
        "path=%2e%2e/Book/eleven.mp3",
        "path=%2E%2E%2FBook%2Feleven.mp3",
        "path=subs/%2e%2e/eleven.mp3",
    ],
)
def test_traversal_is_400(
    emu: Emulator, http: requests.Session, auth: dict[str, str], query: str
) -> None:
    response = http.get(f"{object_url(emu)}?{query}", headers=auth)
    assert response.status_code == 400
    assert response.json() == {"detail": "path must not traverse directories"}


def test_backslash_dots_are_not_traversal(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    response = http.get(object_url(emu), params={"path": "..\\eleven.mp3"}, headers=auth)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("publisher", "book"),
    [("%2E%2E", "Book"), ("%2E", "Book"), ("P%5Cub", "Book"), ("Pub", "%2E%2E"), ("Pub", "B%5Ck")],
)
def test_bad_publisher_or_book_is_400(
    emu: Emulator, http: requests.Session, auth: dict[str, str], publisher: str, book: str
) -> None:
    response = http.get(
        f"{emu.base_url}/storage/books/{publisher}/{book}/object?path=eleven.mp3", headers=auth
    )
    assert response.status_code == 400
    assert "detail" in response.json()


@pytest.mark.parametrize("query", ["", "?", "?other=eleven.mp3", "?Path=eleven.mp3"])
def test_missing_path_is_422(
    emu: Emulator, http: requests.Session, auth: dict[str, str], query: str
) -> None:
    response = http.get(object_url(emu) + query, headers=auth)
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"type": "missing", "loc": ["query", "path"], "msg": "Field required", "input": None}
        ]
    }


def test_the_last_path_parameter_wins(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    response = http.get(f"{object_url(emu)}?path=nope.mp3&path=eleven.mp3", headers=auth)
    assert response.status_code == 200
    assert response.content == ELEVEN


def test_auth_is_checked_before_the_path(emu: Emulator, http: requests.Session) -> None:
    assert http.get(object_url(emu)).status_code == 403
    assert http.get(f"{object_url(emu)}?path=../x").status_code == 403


# --- newer contract facts -----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "range_header", "size"),
    [
        ("eleven.mp3", "bytes=0-11", 11),
        ("eleven.mp3", "items=0-1", 11),
        ("empty.mp3", "bytes=0-0", 0),
        ("config.json", "bytes=999-", 17),
    ],
)
def test_a_416_carries_only_content_range_and_detail(
    emu: Emulator, auth: dict[str, str], path: str, range_header: str, size: int
) -> None:
    raw = raw_exchange(
        emu,
        f"GET /storage/books/Pub/Book/object?path={path} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {auth['Authorization']}\r\nRange: {range_header}\r\n"
        "Connection: close\r\n\r\n".encode(),
    )
    status, headers, body = split_response(raw)
    assert status == 416
    assert headers["content-range"] == f"bytes */{size}"
    assert set(headers) == {
        "server",
        "date",
        "connection",  # only because this request asked for it
        "content-type",
        "content-length",
        "content-range",
    }  # no ETag, Accept-Ranges or Cache-Control
    assert headers["content-type"] == "application/json"
    assert b'"detail":' in body


def test_junk_after_a_range_is_ignored(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    response = http.get(
        object_url(emu), params={"path": "eleven.mp3"}, headers={**auth, "Range": "bytes=0-1junk"}
    )
    assert response.status_code == 206
    assert response.headers["Content-Range"] == "bytes 0-1/11"
    assert response.content == b"he"


@pytest.mark.parametrize(
    ("name", "part_style"),
    [("exactly5.bin", False), ("over5.bin", True), ("over8.bin", True)],
)
def test_objects_over_5_mib_have_part_style_etags(
    emu: Emulator, http: requests.Session, auth: dict[str, str], name: str, part_style: bool
) -> None:
    data = LARGE_FILES[name]
    url = object_url(emu, "Pub", "Large")
    first = http.get(url, params={"path": name}, headers={**auth, "Range": "bytes=0-0"})
    etag = first.headers["ETag"]
    expected = multipart_etag(data) if part_style else md5(data)
    assert etag == f'"{expected}"'  # strong, quoted
    if part_style:
        assert etag.endswith('-1"' if len(data) <= 8 * MIB else '-2"')  # 8 MiB parts
        assert md5(data) not in etag
    whole = http.get(url, params={"path": name}, headers=auth)
    assert whole.headers["ETag"] == etag  # stable
    assert whole.content == data
    cached = http.get(url, params={"path": name}, headers={**auth, "If-None-Match": etag})
    assert cached.status_code == 304


def test_only_the_basename_must_be_latin1(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    response = http.get(object_url(emu), params={"path": "şarkılar/ok.mp3"}, headers=auth)
    assert response.status_code == 200
    assert response.content == b"only the basename counts"
    assert response.headers["Content-Disposition"] == 'inline; filename="ok.mp3"'
