"""DCS misbehaving: the client gets correct bytes, a correct error or an aborted
connection (never a wrong byte or a false 206), and the next request works.

The LMS under test runs with DCS_READ_TIMEOUT=2 and DCS_CONNECT_TIMEOUT=1.
"""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from local_servers import free_port
from tests import media
from tests.conftest import server_env, start_gunicorn, stop
from tests.factories import bearer, student_with_book
from tests.wire import fetch_raw, media_path

pytestmark = pytest.mark.wire

ONE_MIB = "data/random-1m.bin"
SOURCE = media.file_bytes(ONE_MIB)


@pytest.fixture
def student(lms):
    return student_with_book()


def fetch(lms, book, user, headers=None, path=ONE_MIB):
    return fetch_raw(lms, "GET", media_path(book, path), {**bearer(user), **(headers or {})})


def assert_next_request_works(lms, dcs, book, user):
    dcs.faults.reset()
    response = fetch(lms, book, user, {"Range": "bytes=10-19"})
    assert (response.status, response.body) == (206, SOURCE[10:20])


@pytest.mark.parametrize(
    ("range_header", "status", "expected"),
    [
        ("bytes=100-199", 206, slice(100, 200)),
        ("bytes=1000000-", 206, slice(1000000, None)),
        ("bytes=-10", 206, slice(-10, None)),
        ("bytes=0-1", 206, slice(0, 2)),
        (None, 200, slice(None)),
    ],
)
def test_upstream_ignoring_range_is_sliced_never_relabelled(
    lms, dcs, student, range_header, status, expected
):
    user, book = student
    dcs.faults.ignore_range = True
    response = fetch(lms, book, user, {"Range": range_header} if range_header else {})
    assert response.status == status
    assert response.complete
    assert response.body == SOURCE[expected]
    assert_next_request_works(lms, dcs, book, user)


def test_cut_body_aborts_the_client_connection(lms, dcs, student):
    user, book = student
    dcs.faults.cut_after_bytes = 200_000
    response = fetch(lms, book, user)
    assert response.status == 200
    assert response.headers["Content-Length"] == str(len(SOURCE))
    assert not response.complete
    assert response.body == SOURCE[: len(response.body)]
    assert len(response.body) <= 200_000
    assert_next_request_works(lms, dcs, book, user)


def test_cut_body_in_a_range_aborts_too(lms, dcs, student):
    user, book = student
    dcs.faults.cut_after_bytes = 1000
    response = fetch(lms, book, user, {"Range": "bytes=500000-"})
    assert response.status == 206
    assert not response.complete
    assert response.body == SOURCE[500000 : 500000 + len(response.body)]
    assert_next_request_works(lms, dcs, book, user)


@pytest.mark.parametrize(("upstream", "status"), [(500, 502), (502, 502), (503, 502), (404, 404)])
def test_upstream_errors_map_to_clean_json(lms, dcs, student, upstream, status):
    user, book = student
    dcs.faults.status = upstream
    response = requests.get(lms.url(media_path(book, ONE_MIB)), headers=bearer(user), timeout=10)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["detail"]
    assert_next_request_works(lms, dcs, book, user)


def test_mismatching_content_range_is_a_502_not_wrong_bytes(lms, dcs, student):
    user, book = student
    dcs.faults.wrong_content_range = True
    response = fetch(lms, book, user, {"Range": "bytes=100-199"})
    assert response.status == 502
    assert_next_request_works(lms, dcs, book, user)


def test_slow_upstream_before_headers_is_504_within_the_read_timeout(lms, dcs, student):
    user, book = student
    dcs.faults.stall_before_headers = 4
    started = time.monotonic()
    response = fetch(lms, book, user, {"Range": "bytes=0-1"})
    elapsed = time.monotonic() - started
    assert response.status == 504
    assert elapsed < 3.5
    assert_next_request_works(lms, dcs, book, user)


def test_stall_mid_stream_aborts_the_client_within_the_read_timeout(lms, dcs, student):
    user, book = student
    dcs.faults.stall_after_bytes = (300_000, 5)
    started = time.monotonic()
    response = fetch(lms, book, user)
    elapsed = time.monotonic() - started
    assert response.status == 200
    assert not response.complete
    assert response.body == SOURCE[: len(response.body)]
    assert elapsed < 4.5
    assert_next_request_works(lms, dcs, book, user)


def test_expired_token_is_renewed_transparently(lms, dcs, student):
    user, book = student
    assert fetch(lms, book, user, {"Range": "bytes=0-1"}).status == 206
    logins = dcs.stats.logins
    dcs.expire_tokens()
    response = fetch(lms, book, user, {"Range": "bytes=0-1"})
    assert (response.status, response.body) == (206, SOURCE[:2])
    assert dcs.stats.logins == logins + 1


def test_token_expiring_during_a_burst_costs_one_login(lms, dcs, student):
    user, book = student
    assert fetch(lms, book, user, {"Range": "bytes=0-1"}).status == 206
    logins = dcs.stats.logins
    dcs.expire_tokens()
    headers = bearer(user)

    def seek(offset: int):
        return fetch_raw(
            lms,
            "GET",
            media_path(book, ONE_MIB),
            {**headers, "Range": f"bytes={offset}-{offset + 999}"},
        )

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(seek, range(0, 32 * 1000, 1000)))
    assert [r.status for r in responses] == [206] * 32
    assert all(r.body == SOURCE[i * 1000 : i * 1000 + 1000] for i, r in enumerate(responses))
    assert dcs.stats.logins == logins + 1


def test_short_token_lifetime(lms, dcs, student):
    user, book = student
    dcs.faults.token_lifetime = 1
    dcs.expire_tokens()
    assert fetch(lms, book, user, {"Range": "bytes=0-1"}).status == 206
    time.sleep(1.2)
    response = fetch(lms, book, user, {"Range": "bytes=2-3"})
    assert (response.status, response.body) == (206, SOURCE[2:4])
    # Leave the LMS holding a normal token, so the next test pays no re-login.
    dcs.faults.reset()
    dcs.expire_tokens()
    assert_next_request_works(lms, dcs, book, user)


@pytest.fixture(scope="module")
def lms_without_dcs(django_db_setup, tmp_path_factory):
    """A second LMS whose DCS_BASE_URL points at a port nobody listens on."""
    from django.db import connection

    env = server_env(f"http://127.0.0.1:{free_port()}", connection.settings_dict["NAME"])
    server = start_gunicorn(env, tmp_path_factory.mktemp("lms-no-dcs") / "gunicorn.log")
    yield server
    stop(server.process)


@pytest.mark.django_db(transaction=True)
def test_refused_connection_is_an_immediate_502(lms_without_dcs):
    user, book = student_with_book()
    url, headers = lms_without_dcs.url(media_path(book, ONE_MIB)), bearer(user)
    requests.get(url, headers=headers, timeout=10)  # the worker's first request imports a lot
    started = time.monotonic()
    response = requests.get(url, headers=headers, timeout=10)
    assert response.status_code == 502
    assert response.json()["detail"]
    # Refused at once: well under DCS_CONNECT_TIMEOUT (1 s), no retry loop.
    assert time.monotonic() - started < 0.5
