"""lms.cache.RedisCache against a real redis-server: one client per process, counters
atomic in one command (one round trip), limits that hold for 1,000 users."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from django.core.cache import caches

from lms import cache as cache_module
from lms.cache import (
    DEFER_MIN_LIMIT,
    DEFER_MIN_SLOTS,
    ENTRY_TTL,
    RELEASE_DELAY,
    Count,
    _Pending,
)
from media_proxy.throttling import TooManyStreams, acquire_stream_slot, count_then_get
from tests.wire import eventually

pytestmark = [pytest.mark.wire, pytest.mark.tools]

USERS = 1_000


@pytest.fixture
def redis_cache(settings, redis_url):
    settings.CACHES = {"default": {"BACKEND": "lms.cache.RedisCache", "LOCATION": redis_url}}
    caches["default"].clear()  # this process's copies and window totals too
    yield caches["default"]
    caches["default"].clear()


def test_each_counter_call_is_one_round_trip(redis_cache, redis_url, monkeypatch):
    redis_cache.count("warm", 60)  # loads the scripts once per server
    server = redis_cache._cache.server()
    # No release goes by itself during this test: each rides on the next admission.
    monkeypatch.setattr(server, "pending", _Pending(server._send_pending, 60))
    replies = []
    original = redis.connection.Connection.read_response

    def counted(self, *args, **kwargs):
        replies.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(redis.connection.Connection, "read_response", counted)
    assert redis_cache.count("window", 60) == 1
    assert len(replies) == 1
    slot = acquire_stream_slot(2, 2, 600)
    assert len(replies) == 2
    slot.release()
    assert len(replies) == 2  # queued ...
    assert redis_cache.count("window", 60) == 2  # ... and sent with the next admission
    assert len(replies) == 3
    assert not redis.Redis.from_url(redis_url).exists(redis_cache.make_key("media:streams:2"))


def test_a_release_no_admission_takes_goes_by_itself(redis_cache, redis_url):
    slot = acquire_stream_slot(5, 2, 600)
    key = redis_cache.make_key("media:streams:5")
    server = redis.Redis.from_url(redis_url)
    started = time.monotonic()
    slot.release()
    assert eventually(lambda: not server.exists(key), within=5, every=0.01)
    assert time.monotonic() - started >= RELEASE_DELAY


@pytest.fixture
def scripts_sent(redis_cache, monkeypatch):
    """The arguments of each script this process sends to Redis; queued counts and
    releases go only with the next script (none by itself)."""
    server = redis_cache._cache.server()
    monkeypatch.setattr(server, "pending", _Pending(server._send_pending, 60))
    sent = []
    script = server.script

    def counted(keys, args):
        sent.append(args)
        return script(keys=keys, args=args)

    monkeypatch.setattr(server, "script", counted)
    return sent


def admit(window: Count, keys: list[str]) -> tuple[list[int], dict]:
    """An offloaded request's admission: a window, no slot."""
    return count_then_get([window], keys, may_defer=True)


def test_a_window_far_from_its_limit_is_counted_without_a_round_trip(
    redis_cache, redis_url, scripts_sent
):
    redis_cache.set("info", "size and ETag")
    window = Count("window", 60, limit=DEFER_MIN_LIMIT)
    found = {"info": "size and ETag"}
    assert admit(window, ["info", "absent"]) == ([1], found)  # nothing copied yet: Redis
    assert len(scripts_sent) == 1
    assert [admit(window, ["info", "absent"]) for _ in range(10)] == [
        ([n], found) for n in range(2, 12)
    ]
    assert len(scripts_sent) == 1  # counted in the process, entries from its copies
    assert count_then_get([window], []) == ([12], {})  # the next script carries them
    assert scripts_sent[-1][:5] == [0, 1, 10, 60, 0]  # no releases; 10 counts of one window
    assert int(redis.Redis.from_url(redis_url).get(redis_cache.make_key("window"))) == 12


def test_past_half_its_limit_a_window_is_counted_at_once(redis_cache, scripts_sent):
    half = DEFER_MIN_LIMIT // 2
    window = Count("window", 60, limit=DEFER_MIN_LIMIT)
    assert [admit(window, ["info"])[0][0] for _ in range(half + 5)] == list(range(1, half + 6))
    assert len(scripts_sent) == 1 + 5  # the first (nothing copied yet), then each past half
    small = Count("small", 60, limit=DEFER_MIN_LIMIT - 1)  # a small limit is always exact
    assert [admit(small, ["info"])[0][0] for _ in range(3)] == [1, 2, 3]
    assert len(scripts_sent) == 6 + 3


def test_a_copy_is_used_only_while_fresh_and_unwritten(redis_cache, redis_url, scripts_sent):
    window = Count("window", 60, limit=DEFER_MIN_LIMIT)
    redis_cache.set("info", "old")
    assert admit(window, ["info"])[1] == {"info": "old"}
    assert admit(window, ["info"])[1] == {"info": "old"}
    assert len(scripts_sent) == 1
    redis_cache.set("info", "new")  # this process's write drops its copy
    assert admit(window, ["info"])[1] == {"info": "new"}
    assert len(scripts_sent) == 2
    other_process = redis.Redis.from_url(redis_url)
    other_process.set(redis_cache.make_key("info"), redis_cache._cache._serializer.dumps("newer"))
    time.sleep(ENTRY_TTL)  # another process's write is read once the copy is this old
    assert admit(window, ["info"])[1] == {"info": "newer"}
    assert len(scripts_sent) == 3


def test_a_process_keeps_a_bounded_number_of_totals_and_copies(redis_cache, monkeypatch):
    monkeypatch.setattr(cache_module, "MAX_TOTALS", 3)
    monkeypatch.setattr(cache_module, "MAX_COPIES", 3)
    for user in range(10):
        count_then_get([Count(f"window:{user}", 60, limit=1000)], [f"info:{user}"])
    server = redis_cache._cache.server()
    assert len(server.totals) <= 4
    assert len(server.copies) <= 4


def test_deferred_counts_no_admission_takes_go_by_themselves(redis_cache, redis_url):
    window = Count("window", 60, limit=DEFER_MIN_LIMIT)
    for _ in range(4):
        admit(window, [])
    server, key = redis.Redis.from_url(redis_url), redis_cache.make_key("window")
    assert eventually(lambda: server.get(key) == b"4", within=5, every=0.01)
    assert 0 < server.ttl(key) <= 60


def test_a_slot_far_from_its_cap_is_taken_and_given_back_without_a_round_trip(
    redis_cache, redis_url, scripts_sent
):
    window = Count("window", 60, limit=DEFER_MIN_LIMIT)
    slot = Count("slots", 600, limit=DEFER_MIN_SLOTS, lease=True)
    redis_cache.set("info", "size and ETag")
    found = {"info": "size and ETag"}
    assert count_then_get([window, slot], ["info"], may_defer=True) == ([1, 1], found)
    assert len(scripts_sent) == 1  # nothing copied yet: Redis
    assert [count_then_get([window, slot], ["info"], may_defer=True) for _ in range(3)] == [
        ([n, n], found) for n in (2, 3, 4)
    ]
    redis_cache.uncount("slots")  # a stream ends: it cancels one of the three
    assert len(scripts_sent) == 1
    assert count_then_get([], []) == ([], {})  # the next script carries them
    assert scripts_sent[-1] == [0, 2, 3, 60, 0, 2, 600, 1]  # no release; 3 windows, 2 slots
    server = redis.Redis.from_url(redis_url)
    assert int(server.get(redis_cache.make_key("window"))) == 4
    slots = redis_cache.make_key("slots")
    assert int(server.get(slots)) == 3
    assert 590 < server.ttl(slots) <= 600  # a lease, renewed
    server.expire(slots, 100)
    assert count_then_get([window, slot], [], may_defer=True) == ([5, 4], {})
    redis_cache.uncount("slots")  # granted and given back: the lease renewed, no more
    count_then_get([], [])
    assert scripts_sent[-1] == [0, 2, 1, 60, 0, 0, 600, 1]
    assert int(server.get(slots)) == 3
    assert 590 < server.ttl(slots) <= 600


def test_past_half_its_cap_a_slot_is_taken_at_once_and_the_cap_holds(
    redis_cache, redis_url, scripts_sent
):
    half = DEFER_MIN_SLOTS // 2
    slot = Count("slots", 600, limit=DEFER_MIN_SLOTS, lease=True)
    reached = [count_then_get([slot], [], may_defer=True)[0][0] for _ in range(DEFER_MIN_SLOTS)]
    assert reached == list(range(1, DEFER_MIN_SLOTS + 1))
    assert len(scripts_sent) == DEFER_MIN_SLOTS - half  # each past half, with those before
    assert count_then_get([slot], [], may_defer=True)[0] == [DEFER_MIN_SLOTS + 1]  # refused
    server = redis.Redis.from_url(redis_url)
    assert int(server.get(redis_cache.make_key("slots"))) == DEFER_MIN_SLOTS
    small = Count("small", 600, limit=DEFER_MIN_SLOTS - 1, lease=True)  # always exact
    assert [count_then_get([small], [], may_defer=True)[0][0] for _ in range(2)] == [1, 2]
    assert len(scripts_sent) == DEFER_MIN_SLOTS - half + 1 + 2


def test_a_slot_given_back_while_its_count_is_on_its_way_reaches_redis_after_it(
    redis_cache, redis_url, scripts_sent, monkeypatch
):
    slot = Count("slots", 600, limit=DEFER_MIN_SLOTS, lease=True)
    count_then_get([slot], [], may_defer=True)  # counted in the process
    server = redis_cache._cache.server()
    run = server.run
    ended = []

    def run_while_the_stream_ends(*args):
        if not ended:  # the script carrying the count is on its way ...
            ended.append(True)
            redis_cache.uncount("slots")  # ... when the stream ends ...
            count_then_get([], [])  # ... and another admission's script goes first
        return run(*args)

    monkeypatch.setattr(server, "run", run_while_the_stream_ends)
    count_then_get([], [])
    key, client = redis_cache.make_key("slots"), redis.Redis.from_url(redis_url)
    assert int(client.get(key)) == 1  # the release was held back, not dropped by Redis
    count_then_get([], [])
    assert not client.exists(key)  # given back: no slot kept for its 600 s lease


def test_slots_taken_and_given_back_by_many_threads_leave_none_behind(redis_cache, redis_url):
    """Threads (a gthread worker) taking and giving back slots at once, some in batches,
    some in Redis, with scripts in flight while others queue: none is left counted."""
    slot = Count("slots", 600, limit=4 * DEFER_MIN_SLOTS, lease=True)

    def stream(_):
        if count_then_get([slot], [], may_defer=True)[0][0] <= slot.limit:
            redis_cache.uncount("slots")

    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(stream, range(3000)))
    server, key = redis.Redis.from_url(redis_url), redis_cache.make_key("slots")
    assert eventually(lambda: not server.exists(key), within=5, every=0.05)


@pytest.fixture(params=["lms.cache.RedisCache", "lms.cache.LocMemCache", "locmem"])
def any_cache(request, settings, redis_url):
    """The shipped backends, and one without `Counters` (Django's calls, more trips)."""
    backend = request.param.replace("locmem", "django.core.cache.backends.locmem.LocMemCache")
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": redis_url}}
    caches["default"].clear()
    yield caches["default"]
    caches["default"].clear()


def counter(cache, key: str) -> int | None:
    return cache.counter(key) if hasattr(cache, "counter") else cache.get(key)


def test_an_admission_counts_in_order_and_stops_at_the_first_refusal(any_cache):
    any_cache.set("info", {"size": 3, "etag": '"e"'})
    window = Count("window", 60, limit=2)
    slot = Count("slot", 600, limit=1, lease=True)
    found = {"info": {"size": 3, "etag": '"e"'}}
    assert count_then_get([window, slot], ["info", "absent"]) == ([1, 1], found)
    # The slot refused: taken back, and nothing read.
    assert count_then_get([window, slot], ["info"]) == ([2, 2], {})
    assert counter(any_cache, "slot") == 1
    # The window refused: the slot is not asked.
    assert count_then_get([window, slot], ["info"]) == ([3], {})
    assert (counter(any_cache, "window"), counter(any_cache, "slot")) == (3, 1)
    assert count_then_get([], ["info"]) == ([], found)


def test_one_client_per_process(redis_cache):
    clients = set()

    def use_cache():
        backend = caches["default"]  # each thread has its own backend object
        backend.count("shared", 60)
        clients.add(id(backend._cache.get_client(write=True)))

    threads = [threading.Thread(target=use_cache) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(clients) == 1


def test_many_threads_at_once_never_run_out_of_connections(redis_cache):
    """A gthread worker runs 64-128 requests at once; redis-py's default pool stops at 100."""
    client = redis_cache._cache.get_client(write=True)
    assert client.connection_pool.max_connections >= 1024
    start = threading.Barrier(200)

    def count(_):
        start.wait()
        return redis_cache.count("burst", 60)

    with ThreadPoolExecutor(max_workers=200) as pool:
        results = list(pool.map(count, range(200)))
    assert sorted(results) == list(range(1, 201))


def test_counters_are_atomic_and_expire(redis_cache, redis_url):
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda _: redis_cache.count("hits", 60), range(2000)))
    assert sorted(results) == list(range(1, 2001))
    server = redis.Redis.from_url(redis_url)
    key = redis_cache.make_key("hits")
    assert 0 < server.ttl(key) <= 60
    assert redis_cache.get("hits") == 2000  # still a plain Django cache entry


def test_a_refused_slot_does_not_renew_the_lease(redis_cache, redis_url):
    server = redis.Redis.from_url(redis_url)
    acquire_stream_slot(3, 1, 600)
    key = redis_cache.make_key("media:streams:3")
    server.expire(key, 100)  # time passed since the grant
    with pytest.raises(TooManyStreams):
        acquire_stream_slot(3, 1, 600)
    assert server.ttl(key) <= 100
    assert int(server.get(key)) == 1


def test_released_slots_leave_no_key_behind(redis_cache, redis_url):
    acquire_stream_slot(4, 2, 600).release()
    redis_cache.uncount("media:streams:never")  # a missing counter stays missing
    server = redis.Redis.from_url(redis_url)
    key = redis_cache.make_key("media:streams:4")
    assert eventually(lambda: not server.exists(key), within=5)
    assert redis_cache.get("media:streams:never") is None


def test_a_slot_given_back_in_another_process_never_refuses(redis_cache):
    slots = [acquire_stream_slot(6, 2, 600) for _ in range(2)]
    other_process = _Pending(redis_cache._cache.server()._send_pending)
    other_process.release(redis_cache.make_key(slots[0].key))  # its stream ended, not yet sent
    assert acquire_stream_slot(6, 2, 600).key  # asked again once it is in
    with pytest.raises(TooManyStreams):
        acquire_stream_slot(6, 2, 600)


def refused(user: int) -> bool:
    try:
        acquire_stream_slot(user, 2, 600)
    except TooManyStreams:
        return True
    return False


def test_stream_limits_hold_for_a_thousand_users(redis_cache):
    slots = [acquire_stream_slot(user, 2, 600) for user in range(USERS) for _ in range(2)]
    with ThreadPoolExecutor(max_workers=100) as pool:  # each refusal waits for releases
        assert all(pool.map(refused, range(USERS)))
    for slot in slots:
        slot.release()
    assert all(acquire_stream_slot(user, 2, 600).key for user in range(USERS))
