"""The limits' counters (lms.cache, media_proxy.throttling) in local memory: atomic, and
never evicted while live, with far more users than the cache holds entries."""

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from unittest import mock

import pytest
import redis
from django.core.cache import caches

from lms import cache as cache_module
from lms.cache import Count, LocMemCache, _Releases
from local_servers import free_port
from media_proxy import throttling
from media_proxy.throttling import MediaRateThrottle, TooManyStreams, acquire_stream_slot
from tests.wire import eventually

USERS = 1_000
CACHE_SIZE = 300  # Django's default MAX_ENTRIES, far below USERS


@pytest.fixture
def small_cache(settings):
    """The shipped local-memory backend, as small as Django's default."""
    settings.CACHES = {
        "default": {
            "BACKEND": "lms.cache.LocMemCache",
            "LOCATION": "counters-test",
            "OPTIONS": {"MAX_ENTRIES": CACHE_SIZE},
        }
    }
    caches["default"].clear()
    yield caches["default"]
    caches["default"].clear()


def fill_with_other_entries(cache, count: int) -> None:
    """What a busy process caches besides counters: object metadata, listings."""
    for index in range(count):
        cache.set(f"media:info:{index}", {"size": index, "etag": f'"{index}"'}, 300)


def throttle(rate: str) -> MediaRateThrottle:
    with mock.patch.object(MediaRateThrottle, "THROTTLE_RATES", {"media": rate}):
        return MediaRateThrottle()


def request_of(user_id: int) -> SimpleNamespace:
    return SimpleNamespace(user=SimpleNamespace(is_authenticated=True, pk=user_id))


def test_throttle_holds_for_more_users_than_the_cache_holds(small_cache):
    limiter = throttle("3/min")
    with mock.patch.object(limiter, "timer", return_value=120.0):  # one window throughout
        for _ in range(3):
            for user in range(USERS):
                assert limiter.allow_request(request_of(user), None)
            fill_with_other_entries(small_cache, CACHE_SIZE)
        refused = [
            user for user in range(USERS) if not limiter.allow_request(request_of(user), None)
        ]
    assert refused == list(range(USERS))


def test_stream_slots_hold_for_more_users_than_the_cache_holds(small_cache):
    slots = [acquire_stream_slot(user, 2, 600) for user in range(USERS) for _ in range(2)]
    fill_with_other_entries(small_cache, 2 * CACHE_SIZE)
    for user in range(USERS):
        with pytest.raises(TooManyStreams):
            acquire_stream_slot(user, 2, 600)
    for slot in slots[::2]:  # every user closes one player
        slot.release()
    assert all(acquire_stream_slot(user, 2, 600).key for user in range(USERS))


def test_djangos_own_locmem_loses_live_counters(settings):
    """Why lms.cache exists: with Django's backend the same load resets the limits."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "counters-test-django",
            "OPTIONS": {"MAX_ENTRIES": CACHE_SIZE},
        }
    }
    for user in range(USERS):
        acquire_stream_slot(user, 1, 600)
    refused = 0
    for user in range(USERS):
        try:
            acquire_stream_slot(user, 1, 600)
        except TooManyStreams:
            refused += 1
    assert refused < USERS / 2
    caches["default"].clear()


def test_a_refused_slot_changes_nothing_and_does_not_renew_the_lease(small_cache):
    with mock.patch("lms.cache.time.time", return_value=1000.0):
        acquire_stream_slot(7, 1, 600)
    with mock.patch("lms.cache.time.time", return_value=1500.0):
        with pytest.raises(TooManyStreams):
            acquire_stream_slot(7, 1, 600)
        assert small_cache.counter("media:streams:7") == 1
    with mock.patch("lms.cache.time.time", return_value=1601.0):  # the lease of the grant ran out
        assert small_cache.counter("media:streams:7") is None
        assert acquire_stream_slot(7, 1, 600).key == "media:streams:7"


def test_released_slots_leave_no_counter_behind(small_cache):
    slot = acquire_stream_slot(8, 3, 600)
    slot.release()
    slot.release()  # once only
    assert small_cache.counter("media:streams:8") is None


def test_counters_are_atomic_across_threads(small_cache):
    def count(_):
        return small_cache.count("hits", 60)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(count, range(4000)))
    assert sorted(results) == list(range(1, 4001))


def test_expired_counters_are_swept(small_cache):
    with mock.patch("lms.cache.time.time", return_value=1000.0):
        for user in range(USERS):
            small_cache.count(f"window:{user}", 60)
    with mock.patch("lms.cache.time.time", return_value=2000.0):
        small_cache.count("window:new", 60)
    assert list(small_cache._counters) == [small_cache.make_key("window:new")]


def test_other_backends_fall_back_to_djangos_calls(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "counters-fallback",
        }
    }
    assert not isinstance(caches["default"], LocMemCache)
    assert [throttling.count_then_get([Count("k", 60)], [])[0][0] for _ in range(3)] == [1, 2, 3]
    slot = acquire_stream_slot(9, 1, 600)
    with pytest.raises(TooManyStreams):
        acquire_stream_slot(9, 1, 600)
    slot.release()
    assert caches["default"].get("media:streams:9") == 0
    caches["default"].clear()


def test_queued_releases_are_taken_once_in_order_or_sent_after_the_delay():
    sent = []
    releases = _Releases(sent.append, delay=0.2)
    releases.add("a")
    releases.add("b")
    assert releases.take() == ["a", "b"]  # an admission carries them ...
    assert releases.take() == []
    releases.add("c")
    assert eventually(lambda: sent, within=5) == [["c"]]  # ... else they go by themselves
    assert releases.take() == []


def test_a_forked_child_leaves_its_parents_releases_to_the_parent():
    sent = []
    releases = _Releases(sent.append, delay=0.2)
    releases.add("parent's")
    releases._pid = -1  # what a forked child sees: the queue and its sender are its parent's
    assert releases.take() == []
    releases.add("child's")
    assert eventually(lambda: sent, within=5) == [["child's"]]


def test_a_release_that_fails_is_logged_and_the_sender_goes_on(caplog):
    sent = []

    def send(keys):
        if not sent:
            sent.append("failed")
            raise RuntimeError("NOSCRIPT, OOM, ...")
        sent.append(keys)

    releases = _Releases(send, delay=0.01)
    releases.add("lost")
    assert eventually(lambda: "Could not give back 1 stream slots" in caplog.text, within=5)
    releases.add("next")
    assert eventually(lambda: sent == ["failed", ["next"]], within=5)


def test_releases_still_queued_when_the_process_exits_are_sent():
    script = (
        "from lms.cache import _Releases\n"
        "releases = _Releases(lambda keys: print('sent', keys), delay=60)\n"
        "releases.add('a')\n"
        "releases.add('b')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout == "sent ['a', 'b']\n"


@pytest.fixture
def unreachable_redis(settings, monkeypatch):
    """The shipped Redis backend on a port nothing listens on."""
    monkeypatch.setattr(cache_module, "_outage", cache_module._Outage())
    settings.CACHES = {
        "default": {
            "BACKEND": "lms.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }
    return caches["default"]


def test_redis_unreachable_answers_as_an_empty_cache_that_counts_nothing(unreachable_redis, caplog):
    cache = unreachable_redis
    assert cache.get("key", "default") == "default"
    cache.set("key", 1)
    assert cache.get_many(["key"]) == {}
    assert cache.add("lock", 1) is True  # a lock in the cache is taken: its holder goes on
    assert cache.incr("failures") == 1
    assert throttling.count_then_get([Count("window", 60, limit=1)], ["info"]) == ([0], {})
    assert acquire_stream_slot(1, 1, 600).key is None  # nothing counted, nothing to give back
    assert caplog.text.count("Redis is unreachable (ConnectionError)") == 1


def test_an_unreachable_redis_is_asked_again_after_a_pause(unreachable_redis, monkeypatch):
    attempts = []
    connect = redis.connection.AbstractConnection.connect
    monkeypatch.setattr(
        redis.connection.AbstractConnection, "connect", lambda c: attempts.append(1) or connect(c)
    )
    monkeypatch.setattr(cache_module, "OUTAGE_RETRY", 0.2)
    assert unreachable_redis.get("a") is None
    assert unreachable_redis.get("b") is None
    assert len(attempts) == 1  # the second answered without asking
    time.sleep(0.3)
    assert unreachable_redis.get("c") is None
    assert len(attempts) == 2
