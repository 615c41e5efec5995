"""A failing DCS does not take media (or the LMS) down with it: the circuit breaker,
shared by two worker processes through a real Redis, over real sockets; the bulkhead
and the send timeout on paused players. A hung DCS, in both modes:
test_isolation_modes.py."""

from __future__ import annotations

import json
import socket
import time

import pytest
import redis

from tests import media
from tests.conftest import lms_with
from tests.factories import bearer, student_with_book
from tests.wire import eventually, fetch_raw, media_path, open_player

pytestmark = [pytest.mark.wire, pytest.mark.tools]

FAILURES, RESET = 3, 2
FILE = "data/hello.txt"


@pytest.fixture(scope="module")
def guarded_lms(django_db_setup, dcs_server, redis_url, tmp_path_factory):
    yield from lms_with(
        dcs_server,
        tmp_path_factory,
        "breaker",
        workers=2,
        CACHE_URL=redis_url,
        DCS_BREAKER_FAILURES=str(FAILURES),
        DCS_BREAKER_RESET=str(RESET),
        DCS_READ_TIMEOUT="1",
    )


@pytest.fixture
def lms(guarded_lms, redis_url, transactional_db, dcs):
    redis.Redis.from_url(redis_url).flushdb()
    return guarded_lms


def play(lms, user, book):
    return fetch_raw(lms, "GET", media_path(book, FILE), bearer(user))


def breaker_lines(lms) -> list[str]:
    return [line for line in lms.log_lines() if "circuit breaker" in line]


def test_the_breaker_opens_after_failures_and_closes_after_recovery(lms, dcs):
    user, book = student_with_book()
    since = len(breaker_lines(lms))
    dcs.faults.status = 500
    for _ in range(FAILURES):
        assert play(lms, user, book).status == 502
    dcs.stats.reset()
    refused = [play(lms, user, book) for _ in range(10)]  # both workers, one shared state
    assert {r.status for r in refused} == {503}
    assert all(json.loads(r.body)["detail"] for r in refused)
    assert all(1 <= int(r.headers["Retry-After"]) <= RESET for r in refused)
    assert dcs.stats.request_count == 0  # refused without touching DCS
    health = fetch_raw(lms, "GET", "/healthz", {})
    assert health.status == 200  # a load balancer keeps the node: pages still work
    assert json.loads(health.body) == {"status": "ok", "database": "ok", "dcs_breaker": "open"}
    scraped = metrics(lms)
    assert scraped["lms_dcs_breaker_state"] == 2
    assert scraped['lms_dcs_breaker_transitions_total{state="open"}'] == 1
    assert scraped["lms_dcs_failures_total"] == FAILURES
    assert scraped['lms_media_responses_total{outcome="error",status="503"}'] == 10

    dcs.faults.status = None
    time.sleep(RESET + 0.2)
    assert play(lms, user, book).status == 200  # the half-open probe succeeds
    assert all(play(lms, user, book).status == 200 for _ in range(4))
    lines = breaker_lines(lms)[since:]
    assert len(lines) == 2
    assert "open" in lines[0]
    assert "closed" in lines[1]
    assert all(" WARNING " in line for line in lines)


def metrics(lms) -> dict[str, float]:
    """The samples of GET /metrics (both workers added up), by name and labels."""
    scraped = fetch_raw(lms, "GET", "/metrics", {})
    assert scraped.status == 200
    samples = {}
    for line in scraped.body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_answers_that_are_not_failures_never_open_it(lms, dcs):
    user, book = student_with_book()
    for _ in range(FAILURES * 2):
        missing = fetch_raw(lms, "GET", media_path(book, "no/such.mp3"), bearer(user))
        assert missing.status == 404
        past_end = fetch_raw(
            lms, "GET", media_path(book, FILE), {**bearer(user), "Range": "bytes=99-"}
        )
        assert past_end.status == 416
    assert play(lms, user, book).status == 200


# --- the bulkhead ------------------------------------------------------------------------

PLACES = 3
SEND_TIMEOUT = 2
BIG = "tricky/paused-64m.bin"  # larger than every socket buffer on the way


@pytest.fixture(scope="module")
def small_bulkhead(django_db_setup, dcs_server, tmp_path_factory):
    yield from lms_with(
        dcs_server,
        tmp_path_factory,
        "bulkhead",
        MEDIA_MAX_CONCURRENT=str(PLACES),
        MEDIA_CHUNK_SIZE="16384",
        MEDIA_SEND_TIMEOUT=str(SEND_TIMEOUT),
    )


def paused_stream(lms, user, book) -> socket.socket:
    """A player that asked for the whole file and stopped reading after the headers."""
    headers = {**bearer(user), "Range": "bytes=0-"}
    sock, head = open_player(lms, media_path(book, BIG), headers)
    assert head == b"HTTP/1.1 206"
    return sock


@pytest.fixture(scope="module")
def big_file(media_root):
    target = media_root / media.PUBLISHER / "books" / media.BOOK / BIG
    target.parent.mkdir(exist_ok=True)
    with target.open("wb") as file:
        file.truncate(64 * 1024 * 1024)  # sparse
    return target


def test_paused_players_past_the_bulkhead_get_503_and_pages_stay_up(
    small_bulkhead, big_file, transactional_db, dcs
):
    user, book = student_with_book()
    paused = [paused_stream(small_bulkhead, user, book) for _ in range(PLACES)]
    try:
        refused = fetch_raw(small_bulkhead, "GET", media_path(book, BIG), bearer(user))
        assert refused.status == 503
        assert refused.headers["Retry-After"] == "1"
        assert json.loads(refused.body)["detail"]
        login = fetch_raw(small_bulkhead, "GET", "/accounts/login/", {})
        assert login.status == 200  # the rest of the LMS keeps its threads
    finally:
        for sock in paused:
            sock.close()
    assert eventually_plays(small_bulkhead, user, book)  # closed streams give their places back


def test_a_paused_stream_is_cut_after_the_send_timeout(
    small_bulkhead, big_file, transactional_db, dcs
):
    user, book = student_with_book()
    since = len(small_bulkhead.log_lines())
    paused = [paused_stream(small_bulkhead, user, book) for _ in range(PLACES)]
    try:
        # The players never read again: the LMS cuts them and frees their places.
        assert eventually_plays(small_bulkhead, user, book, within=SEND_TIMEOUT + 5)
        records = [
            json.loads(line.split("media_stream ", 1)[1])
            for line in small_bulkhead.log_lines()[since:]
            if "media_stream " in line and BIG in line
        ]
        assert len(records) == PLACES
        for record in records:
            assert record["outcome"] == "client_aborted"
            assert record["bytes_sent"] < big_file.stat().st_size
            assert record["duration_ms"] >= SEND_TIMEOUT * 1000
    finally:
        for sock in paused:
            sock.close()


def eventually_plays(lms, user, book, within: float = 10) -> bool:
    def plays() -> bool:
        path = media_path(book, "data/hello.txt")
        return fetch_raw(lms, "GET", path, bearer(user)).status == 200

    return bool(eventually(plays, within, every=0.2))
