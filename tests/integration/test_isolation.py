"""A failing or hung DCS does not take media (or the LMS) down with it: the circuit
breaker, shared by two worker processes through a real Redis, over real sockets."""

from __future__ import annotations

import json
import time

import pytest
import redis

from tests.conftest import server_env, start_gunicorn, stop
from tests.factories import bearer, student_with_book
from tests.wire import fetch_raw, media_path

pytestmark = [pytest.mark.wire, pytest.mark.tools]

FAILURES, RESET = 3, 2
FILE = "data/hello.txt"


@pytest.fixture(scope="module")
def guarded_lms(django_db_setup, dcs_server, redis_url, tmp_path_factory):
    from django.db import connection

    env = server_env(
        dcs_server.base_url,
        connection.settings_dict["NAME"],
        CACHE_URL=redis_url,
        DCS_BREAKER_FAILURES=str(FAILURES),
        DCS_BREAKER_RESET=str(RESET),
        DCS_READ_TIMEOUT="1",
    )
    server = start_gunicorn(env, tmp_path_factory.mktemp("breaker") / "gunicorn.log", workers=2)
    yield server
    stop(server.process)


@pytest.fixture
def lms(guarded_lms, redis_url, transactional_db, dcs):
    redis.Redis.from_url(redis_url).flushdb()
    return guarded_lms


def media(lms, user, book):
    return fetch_raw(lms, "GET", media_path(book, FILE), bearer(user))


def breaker_lines(lms) -> list[str]:
    return [line for line in lms.log_lines() if "circuit breaker" in line]


def test_the_breaker_opens_after_failures_and_closes_after_recovery(lms, dcs):
    user, book = student_with_book()
    since = len(breaker_lines(lms))
    dcs.faults.status = 500
    for _ in range(FAILURES):
        assert media(lms, user, book).status == 502
    dcs.stats.reset()
    refused = [media(lms, user, book) for _ in range(10)]  # both workers, one shared state
    assert {r.status for r in refused} == {503}
    assert all(json.loads(r.body)["detail"] for r in refused)
    assert all(1 <= int(r.headers["Retry-After"]) <= RESET for r in refused)
    assert dcs.stats.request_count == 0  # refused without touching DCS

    dcs.faults.status = None
    time.sleep(RESET + 0.2)
    assert media(lms, user, book).status == 200  # the half-open probe succeeds
    assert all(media(lms, user, book).status == 200 for _ in range(4))
    lines = breaker_lines(lms)[since:]
    assert len(lines) == 2
    assert "open" in lines[0]
    assert "closed" in lines[1]
    assert all(" WARNING " in line for line in lines)


def test_answers_that_are_not_failures_never_open_it(lms, dcs):
    user, book = student_with_book()
    for _ in range(FAILURES * 2):
        missing = fetch_raw(lms, "GET", media_path(book, "no/such.mp3"), bearer(user))
        assert missing.status == 404
        past_end = fetch_raw(
            lms, "GET", media_path(book, FILE), {**bearer(user), "Range": "bytes=99-"}
        )
        assert past_end.status == 416
    assert media(lms, user, book).status == 200


def test_a_hung_dcs_opens_it_and_media_fails_fast(lms, dcs):
    user, book = student_with_book()
    dcs.faults.hang_all = True
    try:
        for _ in range(FAILURES):
            assert media(lms, user, book).status == 504  # DCS_READ_TIMEOUT (1 s here)
        dcs.stats.reset()
        assert media(lms, user, book).status == 503
        assert dcs.stats.request_count == 0  # answered without waiting on DCS
    finally:
        dcs.faults.hang_all = False
    time.sleep(RESET + 0.2)
    assert media(lms, user, book).status == 200
