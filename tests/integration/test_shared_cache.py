"""Many workers, one cache: with CACHE_URL=redis://, workers share the DCS token and
object metadata, so two worker processes cost DCS one login; a warm seek costs the
cache at most one round trip, usually none."""

import http.client
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import redis

from tests import media
from tests.conftest import lms_with, offload_with
from tests.factories import bearer, student_with_book
from tests.wire import fetch_raw, media_path

pytestmark = [pytest.mark.wire, pytest.mark.tools]

CONNECTION_SETUP = {"HELLO", "CLIENT", "AUTH", "SELECT"}
SOURCE = media.file_bytes("data/random-1m.bin")


@pytest.fixture(scope="module")
def two_workers(django_db_setup, dcs_server, redis_url, tmp_path_factory):
    yield from lms_with(dcs_server, tmp_path_factory, "redis-lms", workers=2, CACHE_URL=redis_url)


@pytest.mark.django_db(transaction=True)
def test_two_workers_share_one_dcs_login(two_workers, dcs, redis_url):
    redis.Redis.from_url(redis_url).flushdb()
    user, book = student_with_book()
    headers = bearer(user)

    def seek(offset: int):
        return fetch_raw(
            two_workers,
            "GET",
            media_path(book, "data/random-1m.bin"),
            {**headers, "Range": f"bytes={offset}-{offset + 4095}"},
        )

    offsets = list(range(0, 200 * 4096, 4096))
    with ThreadPoolExecutor(max_workers=24) as pool:
        responses = list(pool.map(seek, offsets))

    assert [r.status for r in responses] == [206] * len(offsets)
    assert all(r.body == SOURCE[o : o + 4096] for o, r in zip(offsets, responses, strict=True))
    served_by = {
        match[1]
        for line in two_workers.log_lines()
        if "media_stream" in line and (match := re.search(r"pid=(\d+)", line))
    }
    assert len(served_by) == 2, "both worker processes served requests"
    assert dcs.stats.logins == 1

    keys = [key.decode() for key in redis.Redis.from_url(redis_url).keys("*")]
    assert any("dcs:token:" in key for key in keys)
    assert any("media:info:" in key for key in keys)


def commands_sent(redis_url: str, action) -> list[list[str]]:
    """The commands clients sent to redis-server during `action()`, each as its words
    (MONITOR; not the ones a script runs inside the server, nor a new pooled
    connection's handshake)."""
    seen: list[list[str]] = []
    with redis.Redis.from_url(redis_url).monitor() as monitor:

        def listen() -> None:
            for command in monitor.listen():
                if command["command"] == "ECHO monitor-end":
                    return
                words = command["command"].split()
                if command["client_type"] != "lua" and words[0] not in CONNECTION_SETUP:
                    seen.append(words)

        listener = threading.Thread(target=listen)
        listener.start()
        action()
        redis.Redis.from_url(redis_url).echo("monitor-end")
        listener.join(10)
    return seen


def seek_on_one_connection(lms, path: str, headers: dict, seeks: int) -> None:
    """A player seeking `seeks` times on one keep-alive connection, every byte checked;
    then half a second for what its workers send to Redis after the last."""
    url = urlsplit(lms.base_url)
    player = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    for offset in range(0, seeks * 1000, 1000):
        player.request("GET", path, headers={**headers, "Range": f"bytes={offset}-{offset + 99}"})
        response = player.getresponse()
        assert (response.status, response.read()) == (206, SOURCE[offset : offset + 100])
    player.close()
    time.sleep(0.5)


def counters_counted(words: list[str]) -> int:
    """How many counters `EVALSHA sha numkeys keys... args...` of lms.cache's script
    counts (0: queued releases and counts sent alone)."""
    args = words[3 + int(words[2]) :]
    return (len(args) - 2 - 3 * int(args[1])) // 3


@pytest.fixture(scope="module")
def offload_two_workers(django_db_setup, dcs_server, redis_url, tmp_path_factory):
    yield from offload_with(
        dcs_server, tmp_path_factory, "redis-offload", workers=2, CACHE_URL=redis_url
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["two_workers", "offload_two_workers"])
def test_seeks_far_from_the_limits_are_counted_in_batches(mode, request, dcs, redis_url):
    """A seek's admission is the throttle's window, a stream slot (not for an offloaded
    body, which is nginx's) and the breaker with the object's size and ETag. While its
    user is far from the rate limit and the stream cap, a worker counts the window and
    takes the slot itself, sends the counts with its next script (or 20 ms later), and
    decides on the entries it read from Redis a moment ago. A slot given back before
    its count went cancels it. Every seek is still counted, once, and every slot given
    back."""
    lms = request.getfixturevalue(mode)
    seeks = 40
    user, book = student_with_book()
    path, headers = media_path(book, "data/random-1m.bin"), bearer(user)
    for _ in range(8):  # both workers: DCS token, object size, scripts loaded
        fetch_raw(lms, "GET", path, {**headers, "Range": "bytes=0-1"})
    # The last counts and releases go by themselves.
    sent = commands_sent(redis_url, lambda: seek_on_one_connection(lms, path, headers, seeks))
    assert {words[0] for words in sent} == {"EVALSHA"}
    admissions = [words for words in sent if counters_counted(words)]
    assert len(admissions) <= seeks // 2
    server = redis.Redis.from_url(redis_url)
    windows = server.keys(f"*throttle_media_{user.pk}:*")
    assert sum(int(server.get(key)) for key in windows) == 8 + seeks
    assert not server.keys(f"*media:streams:{user.pk}")
