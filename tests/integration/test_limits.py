"""Limits: media requests per user (the media throttle, counted after the access check)
and concurrent streams per user, each answered 429 with Retry-After, and shared by two
workers through a real Redis."""

import time

import pytest
import redis
import requests

from lms.cache import DEFER_MIN_LIMIT, DEFER_MIN_SLOTS
from tests.conftest import lms_with, offload_with
from tests.factories import assign, bearer, make_user, student_with_book
from tests.wire import eventually, media_path, open_player

pytestmark = [pytest.mark.wire, pytest.mark.tools]

RATE = 12
SHIPPED_CAP = 16  # MEDIA_MAX_STREAMS_PER_USER's default (the tests' servers: 1000)


@pytest.fixture(scope="module")
def limited(django_db_setup, dcs_server, redis_url, tmp_path_factory):
    yield from lms_with(
        dcs_server,
        tmp_path_factory,
        "limits",
        workers=2,
        CACHE_URL=redis_url,
        MEDIA_THROTTLE_RATE=f"{RATE}/min",
        MEDIA_MAX_STREAMS_PER_USER="2",
        AUTH_THROTTLE_RATE="3/min",
    )


@pytest.fixture
def fresh_limits(limited, redis_url, transactional_db, dcs):
    redis.Redis.from_url(redis_url).flushdb()
    return limited


def test_media_requests_per_user_are_throttled_with_retry_after(fresh_limits):
    user, book = student_with_book()
    url = fresh_limits.url(media_path(book, "data/hello.txt"))
    with requests.Session() as client:
        statuses = [
            client.get(url, headers=bearer(user), timeout=10).status_code for _ in range(RATE)
        ]
        assert statuses == [200] * RATE
        throttled = client.get(url, headers=bearer(user), timeout=10)
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    assert "throttled" in throttled.json()["detail"]
    other = make_user()
    # Refused by the access check, which comes before the throttle counts.
    with requests.Session() as client:
        refused = [client.get(url, headers=bearer(other), timeout=10) for _ in range(RATE + 1)]
    assert [response.status_code for response in refused] == [403] * (RATE + 1)
    assign(book, user=other)
    assert requests.get(url, headers=bearer(other), timeout=10).status_code == 200


@pytest.fixture(scope="module")
def offload_limited(django_db_setup, dcs_server, redis_url, tmp_path_factory):
    """Offload mode, two workers, a rate whose first half is counted in batches."""
    yield from offload_with(
        dcs_server,
        tmp_path_factory,
        "offload-limits",
        workers=2,
        CACHE_URL=redis_url,
        MEDIA_THROTTLE_RATE=f"{DEFER_MIN_LIMIT}/min",
    )


def test_offloaded_requests_counted_in_batches_are_still_throttled(
    offload_limited, redis_url, transactional_db, dcs
):
    """Under half the rate, offloaded ranges are counted a moment after they are
    answered; the request past the limit is refused all the same."""
    redis.Redis.from_url(redis_url).flushdb()
    user, book = student_with_book()
    url = offload_limited.url(media_path(book, "data/hello.txt"))
    with requests.Session() as client:  # one connection to nginx, either worker behind it
        ranged = {**bearer(user), "Range": "bytes=0-4"}
        answers = [client.get(url, headers=ranged, timeout=10) for _ in range(DEFER_MIN_LIMIT)]
        assert [(a.status_code, a.content) for a in answers] == [(206, b"hello")] * len(answers)
        throttled = client.get(url, headers=ranged, timeout=10)
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["Retry-After"]) <= 60


def test_concurrent_streams_per_user_are_capped(fresh_limits):
    user, book = student_with_book()
    path = media_path(book, "data/zeros-32m.bin")
    players = [open_player(fresh_limits, path, bearer(user)) for _ in range(2)]
    assert [head for _, head in players] == [b"HTTP/1.1 200"] * 2
    streams = [sock for sock, _ in players]
    refused = requests.get(fresh_limits.url(path), headers=bearer(user), timeout=10)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "2"
    assert refused.json()["detail"].startswith("Too many media streams are open for this user.")

    streams.pop().close()  # the player went away: its slot comes back

    def seek():
        ranged = {**bearer(user), "Range": "bytes=0-9"}
        return requests.get(fresh_limits.url(path), headers=ranged, timeout=10)

    assert eventually(lambda: seek().status_code != 429, within=10, every=0.2)
    assert seek().status_code == 206
    for stream in streams:
        stream.close()


@pytest.fixture(scope="module")
def shipped_cap(django_db_setup, dcs_server, redis_url, tmp_path_factory):
    """Two workers with the shipped cap on streams, whose first half is taken in batches."""
    yield from lms_with(
        dcs_server,
        tmp_path_factory,
        "shipped-cap",
        workers=2,
        CACHE_URL=redis_url,
        MEDIA_MAX_STREAMS_PER_USER=str(SHIPPED_CAP),
    )


def test_the_shipped_stream_cap_holds_with_slots_taken_in_batches(
    shipped_cap, redis_url, transactional_db, dcs
):
    """Under half the cap, a worker takes a slot itself and Redis counts it a moment
    later (RELEASE_DELAY); once the counts are in, the stream past the cap is refused."""
    assert SHIPPED_CAP >= 2 * DEFER_MIN_SLOTS  # the first half is taken in batches
    redis.Redis.from_url(redis_url).flushdb()
    user, book = student_with_book()
    path = media_path(book, "data/zeros-32m.bin")
    players = [open_player(shipped_cap, path, bearer(user)) for _ in range(SHIPPED_CAP)]
    assert [head for _, head in players] == [b"HTTP/1.1 200"] * SHIPPED_CAP
    time.sleep(0.2)
    _, refused = open_player(shipped_cap, path, bearer(user))
    assert refused == b"HTTP/1.1 429"
    players.pop()[0].close()  # a player went away: its slot comes back
    assert eventually(
        lambda: open_player(shipped_cap, path, bearer(user))[1] == b"HTTP/1.1 200",
        within=10,
        every=0.2,
    )
    for sock, _ in players:
        sock.close()


def test_token_endpoint_is_throttled_per_address(fresh_limits):
    user = make_user(password="right-pass-123")
    url = fresh_limits.url("/api/v1/auth/token")
    answers = [
        requests.post(url, json={"username": user.username, "password": "wrong"}, timeout=10)
        for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [400, 400, 400, 429]
    assert int(answers[-1].headers["Retry-After"]) > 0
