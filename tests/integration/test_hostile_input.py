"""Hostile input over real sockets: generated Range headers, path tricks, header
injection through file names, and the access matrix for every kind of caller."""

import os
from datetime import timedelta
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import quote

import pytest
import requests
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from books.models import Book
from media_proxy.ranges import RangeOutcome, decide_ranges, parse_range_header
from media_proxy.signing import QUERY_PARAM, sign_link
from tests import media
from tests.conftest import TALLY
from tests.factories import assign, bearer, make_book, make_user, session_cookie
from tests.wire import fetch_raw, media_path

pytestmark = pytest.mark.wire

FILE = "data/random-1000.bin"
SOURCE = media.file_bytes(FILE)
SIZE = len(SOURCE)
MAX_RANGES = 16


# --- Range headers ----------------------------------------------------------------------

positions = st.one_of(
    st.integers(0, SIZE + 10),
    st.integers(0, 10**6),
    st.integers(10**18, 10**40),
)
range_member = st.one_of(
    st.builds(lambda a, b: f"{min(a, b)}-{max(a, b)}", positions, positions),  # closed
    st.builds("{}-".format, positions),  # open-ended
    st.builds("-{}".format, positions),  # suffix
    st.builds(lambda a, b: f"{max(a, b) + 1}-{min(a, b)}", positions, positions),  # reversed
    st.sampled_from(["", "-", "--5", "1-2-3", "abc", "5", "0x10-", "+1-2", "1 -2"]),  # garbage
)
range_header = st.builds(
    lambda unit, space, separator, members: f"{unit}={space}{separator.join(members)}",
    st.sampled_from(["bytes", "Bytes", "BYTES", "items", "bytes ", ""]),
    st.sampled_from(["", " ", "  ", "\t"]),
    st.sampled_from([",", ", ", " ,", ",\t"]),
    st.one_of(st.lists(range_member, min_size=1, max_size=3), st.lists(range_member, max_size=40)),
)


def check_range_response(header: str, response: requests.Response, upstream_requests: int):
    """Status, headers and exact bytes against the documented rules (README, ranges.py)."""
    assert response.status_code != 500
    if len(header) > 8190:  # gunicorn's limit on one header field
        assert 400 <= response.status_code < 500
        return
    decision = decide_ranges(parse_range_header(header), SIZE, max_parts=MAX_RANGES)
    assert upstream_requests <= 2 + MAX_RANGES
    if decision.outcome is RangeOutcome.UNSATISFIABLE:
        assert response.status_code == 416
        assert response.headers["Content-Range"] == f"bytes */{SIZE}"
    elif decision.outcome is RangeOutcome.FULL:
        assert response.status_code == 200
        assert response.content == SOURCE
    elif len(decision.ranges) == 1:
        (byte_range,) = decision.ranges
        assert response.status_code == 206
        assert response.headers["Content-Range"] == byte_range.content_range(SIZE)
        assert response.content == SOURCE[byte_range.start : byte_range.end + 1]
    else:
        assert response.status_code == 206
        assert response.headers["Content-Length"] == str(len(response.content))
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {response.headers['Content-Type']}\r\n\r\n".encode() + response.content
        )
        parts = [(p["Content-Range"], p.get_payload(decode=True)) for p in message.iter_parts()]
        assert parts == [
            (r.content_range(SIZE), SOURCE[r.start : r.end + 1]) for r in decision.ranges
        ]


def test_generated_range_headers(lms, dcs):
    user, book = make_user(), make_book()
    assign(book, user=user)
    url, headers = lms.url(media_path(book, FILE)), bearer(user)
    tried = []
    client = requests.Session()

    @settings(
        max_examples=int(os.environ.get("RANGE_FUZZ_EXAMPLES", "10000")),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(header=range_header)
    def check(header: str):
        tried.append(header)
        before = dcs.stats.object_requests
        response = client.get(url, headers={**headers, "Range": header}, timeout=10)
        check_range_response(header, response, dcs.stats.object_requests - before)

    failures = 1
    try:
        check()
        failures = 0
    finally:
        TALLY["generated Range headers (over HTTP)"] = (len(tried), failures)
        client.close()
    assert len(tried) >= int(os.environ.get("RANGE_FUZZ_EXAMPLES", "10000"))


@pytest.mark.parametrize(
    ("members", "statuses"),
    [(700, {200}), (5000, {400, 431})],
    ids=["700 ranges: answered whole", "5000 ranges: header too large"],
)
def test_thousands_of_ranges(lms, dcs, members, statuses):
    user, book = make_user(), make_book()
    assign(book, user=user)
    header = "bytes=" + ",".join(f"{2 * i}-{2 * i}" for i in range(members))
    response = fetch_raw(lms, "GET", media_path(book, FILE), {**bearer(user), "Range": header})
    assert response.status in statuses
    if response.status == 200:
        assert response.body == SOURCE
    # A multi-range request on an object of unknown size costs a bytes=0-0 probe first.
    assert dcs.stats.object_requests <= 2


# --- paths --------------------------------------------------------------------------------

PATH_TRICKS = [
    "..",
    "../x.mp3",
    "a/../../x.mp3",
    "%2e%2e/x.mp3",
    "%2E%2E%2Fx.mp3",
    "%252e%252e/x.mp3",
    "%252e%252e%252fx.mp3",
    "..%5cx.mp3",
    "a%5c..%5cx.mp3",
    "a%00.mp3",
    "a%2500.mp3",
    "%c0%ae%c0%ae/x.mp3",
    "%e0%80%ae%e0%80%ae/x.mp3",
    "%2Fetc%2Fpasswd",
    "%252Fetc%252Fpasswd",
    "a//b.mp3",
    "./a.mp3",
    "a/./b.mp3",
    "a/",
    "%E2%80%A4%E2%80%A4/x.mp3",
    "%EF%BC%8E%EF%BC%8E/x.mp3",
    "%e2%80%a5/x.mp3",
    "a%0d%0aSet-Cookie:%20x=1",
    "a%09b.mp3",
    "a%7fb.mp3",
    "a" * 1100 + ".mp3",
    "/".join(["a"] * 600),
    "",
]


@pytest.mark.parametrize("raw_path", PATH_TRICKS, ids=range(len(PATH_TRICKS)))
def test_path_tricks_never_reach_dcs(lms, dcs, raw_path):
    user, book = make_user(), make_book()
    assign(book, user=user)
    response = fetch_raw(lms, "GET", f"/api/v1/books/{book.pk}/media/{raw_path}", bearer(user))
    assert response.status in (400, 404)
    assert dcs.stats.object_requests == 0


# --- file names in headers ---------------------------------------------------------------

TRICKY_NAMES = {
    'a"b.mp3': 'inline; filename="a\\"b.mp3"',
    "a;b.mp3": 'inline; filename="a;b.mp3"',
    "x; filename=evil.exe": 'inline; filename="x; filename=evil.exe"',
    'şarkı "1".mp3': "inline; filename*=utf-8''%C5%9Fark%C4%B1%20%221%22.mp3",
}


@pytest.mark.parametrize(("name", "disposition"), TRICKY_NAMES.items())
def test_file_names_cannot_break_content_disposition(lms, dcs, media_root, name, disposition):
    book = make_book()
    user = make_user()
    assign(book, user=user)
    target = media_root / media.PUBLISHER / "books" / media.BOOK / "tricky" / name
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(b"data")
    response = fetch_raw(lms, "GET", media_path(book, f"tricky/{name}"), bearer(user))
    # (A name outside Latin-1, which DCS cannot serve, comes through a presigned URL.)
    assert response.status == 200
    assert response.headers.get_all("Content-Disposition") == [disposition]
    assert response.body == b"data"


# --- the access matrix over HTTP -------------------------------------------------------


def credentials(kind: str, user, book, path: str) -> dict:
    if kind == "session":
        return {"cookies": session_cookie(user)}
    if kind == "bearer":
        return {"headers": bearer(user)}
    token, _ = sign_link(user.pk, str(book.pk), path)
    return {"params": {QUERY_PARAM: token}}


def _case(name, build, allowed):
    return pytest.param(build, allowed, id=name)


def _assigned(status=Book.Status.PUBLISHED, **window):
    def build():
        book, user = make_book(status=status), make_user()
        assign(book, user=user, **window)
        return user, book

    return build


def _member_of(other_publisher: bool):
    def build():
        book, user = make_book(), make_user()
        publisher_book = make_book(publisher="Other Pub") if other_publisher else book
        publisher_book.publisher.members.add(user)
        return user, book

    return build


def _inactive():
    user, book = _assigned()()
    user.is_active = False
    user.save()
    return user, book


NOW = timezone.now
ACCESS_CASES = [
    _case("assigned-published", _assigned(), True),
    _case("assigned-draft", _assigned(Book.Status.DRAFT), False),
    _case("assigned-archived", _assigned(Book.Status.ARCHIVED), False),
    _case("assignment-expired", _assigned(ends_at=NOW() - timedelta(minutes=1)), False),
    _case("assignment-not-started", _assigned(starts_at=NOW() + timedelta(days=1)), False),
    _case("member-of-publisher", _member_of(other_publisher=False), True),
    _case("member-of-another-publisher", _member_of(other_publisher=True), False),
    _case("inactive-user", _inactive, False),
    _case(
        "superuser-draft", lambda: (make_user(is_superuser=True), make_book(status="draft")), True
    ),
    _case("stranger", lambda: (make_user(), make_book()), False),
]


@pytest.mark.parametrize("caller", ["session", "bearer", "signed-link"])
@pytest.mark.parametrize(("build", "allowed"), ACCESS_CASES)
def test_access_matrix_over_http(lms, dcs, caller, build, allowed):
    user, book = build()
    path = "data/hello.txt"
    response = requests.get(
        lms.url(f"/api/v1/books/{book.pk}/media/{quote(path)}"),
        timeout=10,
        **credentials(caller, user, book, path),
    )
    if allowed:
        assert (response.status_code, response.content) == (200, b"hello world")
    else:
        assert response.status_code in (401, 403)
        assert response.json()["detail"]
        assert dcs.stats.object_requests == 0


@pytest.mark.parametrize("book_id", ["not-a-uuid", "1", "' OR 1=1 --", "%00", "0" * 200])
def test_book_ids_that_are_not_uuids_are_404(lms, dcs, book_id):
    user = make_user()
    response = fetch_raw(lms, "GET", f"/api/v1/books/{quote(book_id)}/media/a.mp3", bearer(user))
    assert response.status in (400, 404)
    assert dcs.stats.object_requests == 0
