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
from lms.cache import Count, LocMemCache, _Pending
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


def test_local_memory_counts_at_once_even_when_it_may_defer(small_cache):
    """Deferring saves Redis's round trip; local memory has none to save."""
    window = Count("window", 60, limit=1000)
    counted = [throttling.count_then_get([window], [], may_defer=True)[0][0] for _ in range(3)]
    assert counted == [1, 2, 3]
    assert small_cache.counter("window") == 3


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


def test_queued_releases_and_counts_are_taken_once_or_sent_after_the_delay():
    sent = []
    pending = _Pending(lambda releases, counts: sent.append((releases, counts)), delay=0.2)
    pending.release("a")
    pending.release("b")
    pending.count("window", 60)
    pending.count("window", 60)
    assert pending.counted("window") == 2
    assert pending.take() == (["a", "b"], {"window": [2, 60, 0]})  # an admission carries them ...
    assert pending.take() == ([], {})
    assert pending.counted("window") == 2  # on their way: counted until Redis has them
    pending.sent({"window": [2, 60, 0]})
    assert pending.counted("window") == 0
    pending.release("c")
    assert eventually(lambda: sent, within=5) == [(["c"], {})]  # ... else they go by themselves
    assert pending.take() == ([], {})


def test_a_slot_given_back_before_its_count_was_sent_cancels_it():
    pending = _Pending(lambda releases, counts: None, delay=60)
    pending.count("slots", 600, lease=True)
    pending.count("slots", 600, lease=True)
    pending.release("slots")
    assert pending.counted("slots") == 1
    assert pending.take() == ([], {"slots": [1, 600, 1]})  # one count, no release
    pending.count("slots", 600, lease=True)
    pending.release("slots")
    assert pending.take() == ([], {"slots": [0, 600, 1]})  # the lease renewed, no more


def test_a_slot_given_back_while_its_count_is_on_its_way_waits_for_it():
    pending = _Pending(lambda releases, counts: None, delay=60)
    pending.count("slots", 600, lease=True)
    _, on_its_way = pending.take()
    pending.release("slots")
    pending.release("other")
    # Sent before its count, Redis would drop the release and keep the slot for 600 s.
    assert pending.take() == (["other"], {})
    pending.sent(on_its_way)
    assert pending.take() == (["slots"], {})
    pending.count("slots", 600, lease=True)
    _, on_its_way = pending.take()
    pending.release("slots")
    pending.sent({})  # another admission's: nothing of this key
    assert pending.take() == ([], {})
    pending.sent(on_its_way)  # failed or answered: the release goes either way
    assert pending.take() == (["slots"], {})


def test_a_forked_child_leaves_its_parents_queue_to_the_parent():
    sent = []
    pending = _Pending(lambda releases, counts: sent.append((releases, counts)), delay=0.2)
    pending.release("parent's")
    pending.count("parent's window", 60)
    pending._pid = -1  # what a forked child sees: the queue and its sender are its parent's
    assert pending.take() == ([], {})
    assert pending.counted("parent's window") == 0
    pending.count("child's window", 60)
    assert eventually(lambda: sent, within=5) == [([], {"child's window": [1, 60, 0]})]


def test_a_send_that_fails_is_logged_and_the_sender_goes_on(caplog):
    sent = []

    def send(releases, counts):
        if not sent:
            sent.append("failed")
            raise RuntimeError("NOSCRIPT, OOM, ...")
        sent.append(releases)

    pending = _Pending(send, delay=0.01)
    pending.release("lost")
    pending.count("window", 60)
    text = "Could not send 1 stream slot releases and 1 counts"
    assert eventually(lambda: text in caplog.text, within=5)
    pending.release("next")
    assert eventually(lambda: sent == ["failed", ["next"]], within=5)


def test_what_is_still_queued_when_the_process_exits_is_sent():
    script = (
        "from lms.cache import _Pending\n"
        "pending = _Pending(lambda releases, counts: print('sent', releases, counts), delay=60)\n"
        "pending.release('a')\n"
        "pending.release('b')\n"
        "pending.count('w', 60)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout == "sent ['a', 'b'] {'w': [1, 60, 0]}\n"


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
