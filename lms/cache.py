"""Cache backends: Django's own, plus shared counters that cost one round trip.

`settings.CACHES` picks these for `CACHE_URL` (redis:// and locmemcache://). Every
other cache call is Django's. What is added:

- `RedisCache` keeps one `redis.Redis` client (and its connection pool) per process
  and server, where Django builds a client on every call and a pool per thread.
- Counters (the throttle's windows, the stream slots): `count`, `count_up_to` and
  `uncount`, each atomic and one round trip (a Lua script on Redis), where Django's
  `incr` is EXISTS then INCRBY: two round trips, and a key that expires between them
  comes back without an expiry. `count_then_get` runs several counters and then
  reads entries, still in one round trip: a media request's whole admission.
- Releases (`uncount`: a stream slot given back after its body) go to Redis with the
  process's next admission, in its round trip, or by themselves `RELEASE_DELAY` later
  when no admission comes first: a streamed seek costs at most one round trip, not two. A
  slot refused is asked again once every release has had time to arrive
  (`wait_for_releases`): a stream that just ended never refuses the next.
- Deferred counts (`count_then_get(may_defer=True)`, a media request's admission):
  while the user is under half a window's limit of at least `DEFER_MIN_LIMIT`, and
  holds at most half a stream cap of at least `DEFER_MIN_SLOTS`, the process counts
  the window and takes the slot itself and sends the counts as it sends releases,
  and answers with the entries it read from Redis less than `ENTRY_TTL` ago (a write
  from this process drops its copy). A range then costs no round trip of its own;
  past half a limit every count is made at once, so a limit holds unless one user
  sends half of it within `RELEASE_DELAY`. A slot given back before its count was
  sent cancels it (neither is sent); one given back while its count is on its way
  waits for it, or Redis would drop the release and keep the slot for its lease.
- Redis unreachable (refused, reset, timed out: `CACHE_SOCKET_TIMEOUT`) does not take
  the LMS down: `RedisCache` answers as an empty cache that stores nothing, counts
  nothing (media limits are off) and takes every lock, and asks Redis again a second
  later; one WARNING per process every `OUTAGE_LOG_EVERY` seconds says so.
- `LocMemCache` keeps counters apart from the entries it evicts: its MAX_ENTRIES
  culls the least recently used entries, which with a few hundred active users
  were the live counters, so the per-user limits silently reset. A counter is
  dropped only when it expires or comes back to zero.

`media_proxy.throttling` uses these when the backend has them (`Counters`) and
falls back to Django's add/incr/touch/decr on any other backend.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, runtime_checkable

import redis
from django.core.cache.backends import locmem
from django.core.cache.backends import redis as django_redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Count:
    """One counter of `count_then_get`."""

    key: str
    timeout: int  # seconds: a window's length, or a lease
    limit: int | None = None  # passing it stops the counters after this one
    lease: bool = False  # `count_up_to` (needs a limit), else `count` (a fixed window)


def count_each(
    counts: list[Count],
    keys: list[str],
    count_one: Callable[[Count], int],
    get_many: Callable[[list[str]], dict],
) -> tuple[list[int], dict]:
    """`count_then_get` one call at a time, for a backend without one script for it."""
    reached = []
    for count in counts:
        reached.append(value := count_one(count))
        if count.limit is not None and value > count.limit:
            return reached, {}
    return reached, get_many(keys) if keys else {}


@runtime_checkable
class Counters(Protocol):
    def count(self, key: str, timeout: int) -> int:
        """Add one; a new counter expires after `timeout` seconds (a fixed window)."""

    def count_up_to(self, key: str, limit: int, timeout: int) -> int:
        """Add one unless that passes `limit`. Returns the count it would reach: over
        `limit` means refused and nothing changed; otherwise the counter's expiry is
        renewed to `timeout` (a lease)."""

    def uncount(self, key: str) -> None:
        """Take one back; a counter at zero is dropped, a missing one stays missing. It
        may take effect up to `RELEASE_DELAY` later (Redis: with the next admission)."""

    def count_then_get(
        self, counts: list[Count], keys: list[str], *, may_defer: bool = False
    ) -> tuple[list[int], dict]:
        """Each count in turn, stopping after the first that passes its limit; then, when
        none did, the entries `keys` (as `get_many`). The counts reached, and the entries.

        `may_defer`: a backend that counts over the network (Redis) may count windows
        and stream slots later and answer from entries it read a moment ago
        (`RedisCache`)."""

    def wait_for_releases(self) -> bool:
        """Return once every `uncount` made before, by any process, has taken effect;
        False at once when each takes effect as it is made."""


# --- Redis ------------------------------------------------------------------------

# KEYS: the releases, the deferred counts, the counters, then the entries to read.
# ARGV: the number of releases and of deferred counts, then per deferred count its
# amount, its timeout and 1 for a lease, then per counter its timeout, its limit (-1:
# none) and 1 for a lease. A release is a DECR, and a counter at zero dropped; a
# missing counter (its lease expired) stays missing. A window's expiry is set only when
# it has none (EXPIRE NX, on any Redis version); a lease is renewed, and one counted
# over its limit taken back (a deferred one was granted: it stays counted). A deferred
# amount of 0 (slots granted and given back before they were sent) only renews.
# Returns the counts reached, the entries, and the deferred counts' totals.
_COUNT_THEN_GET = """
local function uncount(key)
  if redis.call('EXISTS', key) == 1 and redis.call('DECR', key) <= 0 then
    redis.call('DEL', key)
  end
end
local released, deferred = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, released do uncount(KEYS[i]) end
local totals = {}
for i = 1, deferred do
  local key, at = KEYS[released + i], 3 * i
  if ARGV[at] == '0' then
    totals[i] = tonumber(redis.call('GET', key) or '0')
    if totals[i] > 0 then redis.call('EXPIRE', key, ARGV[at + 1]) end
  else
    totals[i] = redis.call('INCRBY', key, ARGV[at])
    if ARGV[at + 2] == '1' or redis.call('TTL', key) == -1 then
      redis.call('EXPIRE', key, ARGV[at + 1])
    end
  end
end
local first_key, first_arg = released + deferred, 2 + 3 * deferred
local counts = {}
local n = (#ARGV - first_arg) / 3
for i = 1, n do
  local at = first_arg + 3 * (i - 1)
  local key, ttl, limit = KEYS[first_key + i], ARGV[at + 1], tonumber(ARGV[at + 2])
  local value = redis.call('INCR', key)
  local over = limit >= 0 and value > limit
  if ARGV[at + 3] ~= '1' then
    if redis.call('TTL', key) == -1 then redis.call('EXPIRE', key, ttl) end
  elseif not over then
    redis.call('EXPIRE', key, ttl)
  elseif value == 1 then
    redis.call('DEL', key)
  else
    redis.call('DECR', key)
  end
  counts[i] = value
  if over then return {counts, {}, totals} end
end
if #KEYS == first_key + n then return {counts, {}, totals} end
return {counts, redis.call('MGET', unpack(KEYS, first_key + n + 1)), totals}
"""

# How long a release or a deferred count may wait for an admission to ride on
# (seconds); the lease bounds a release lost with a killed process. A loaded process
# admits far more often than this.
RELEASE_DELAY = 0.02
# By then every release queued before has reached Redis, even from a busy process
# whose sender runs late: a slot refused is asked again after it (`wait_for_releases`),
# so that a stream that just ended in another process never refuses anyone.
RELEASES_SETTLED = 0.1
# A rate window may be counted without a round trip (`count_then_get(may_defer=True)`)
# while the user is under half its limit, for limits of at least this many requests,
DEFER_MIN_LIMIT = 100
# and a stream slot taken while the user holds at most half the cap, for caps of at
# least this many streams (the shipped cap is 16) ...
DEFER_MIN_SLOTS = 8
# ... when the entries asked for were read from Redis by this process less than this
# many seconds ago (and not written by it since).
ENTRY_TTL = 0.25


class _Pending:
    """What one process has yet to send to one Redis server: the stream slots it gave
    back and the counts it deferred. The next `count_then_get` that goes to Redis
    carries them, else a sender thread (a greenlet under gevent) sends them `delay`
    seconds after the first was queued, or the process as it exits."""

    def __init__(
        self,
        send: Callable[[list[str], dict[str, list[int]]], None],
        delay: float = RELEASE_DELAY,
    ) -> None:
        self._send = send
        self._delay = delay
        self._lock = threading.Lock()
        self._releases: list[str] = []
        self._counts: dict[str, list[int]] = {}  # key -> [amount, timeout, 1 for a lease]
        self._sending: dict[str, int] = {}  # key -> counts taken and not yet sent
        self._held: dict[str, int] = {}  # key -> releases waiting for those
        self._queued = threading.Event()
        self._pid = 0  # the process whose sender runs

    def release(self, key: str) -> None:
        with self._lock:
            self._own()
            pending = self._counts.get(key)
            if pending is not None and pending[2] and pending[0] > 0:
                # A slot given back before any count of its key was sent: one fewer
                # is sent, and no release (the slots of a key are alike). At 0 the
                # lease is still renewed, as every granted slot renews it.
                pending[0] -= 1
                return
            if key in self._sending:  # after them: Redis drops a release it has no count for
                self._held[key] = self._held.get(key, 0) + 1
                return
            self._releases.append(key)
        self._queued.set()

    def count(self, key: str, timeout: int, lease: bool = False) -> None:
        with self._lock:
            self._own()
            self._counts.setdefault(key, [0, timeout, int(lease)])[0] += 1
        self._queued.set()

    def counted(self, key: str) -> int:
        """This process's counts of `key` that Redis has not answered for yet."""
        if self._pid != os.getpid():
            return 0
        pending = self._counts.get(key)
        return (pending[0] if pending is not None else 0) + self._sending.get(key, 0)

    def _own(self) -> None:
        if self._pid != os.getpid():  # first use, or a forked child: its own sender
            self._pid, self._releases, self._counts = os.getpid(), [], {}
            self._sending, self._held = {}, {}
            threading.Thread(target=self._sender, name="redis-pending", daemon=True).start()
            atexit.register(self._send_queued)  # a worker stopping sends what it holds

    def take(self) -> tuple[list[str], dict[str, list[int]]]:
        """What is queued, to send now; `sent` once Redis has answered (or never will)."""
        with self._lock:
            if self._pid != os.getpid():
                return [], {}  # queued by the parent, which sends them
            releases, counts = self._releases, self._counts
            self._releases, self._counts = [], {}
            for key, (amount, *_) in counts.items():
                self._sending[key] = self._sending.get(key, 0) + amount
        return releases, counts

    def sent(self, counts: dict[str, list[int]]) -> None:
        """The counts from `take` reached Redis, or never will: the releases held for
        them may go."""
        if not counts:
            return
        with self._lock:
            if self._pid != os.getpid():
                return
            for key, (amount, *_) in counts.items():
                left = self._sending.pop(key, 0) - amount
                if left > 0:
                    self._sending[key] = left
                else:
                    self._releases += [key] * self._held.pop(key, 0)
        if self._releases:
            self._queued.set()

    def _sender(self) -> None:
        while True:
            self._queued.wait()
            time.sleep(self._delay)
            self._queued.clear()
            self._send_queued()

    def _send_queued(self) -> None:
        releases, counts = self.take()
        if releases or counts:
            try:
                # Dropped while Redis is unreachable: the lease frees the slots.
                _unless_unreachable(lambda: self._send(releases, counts), None)
            except Exception:  # the sender goes on
                logger.exception(
                    "Could not send %s stream slot releases and %s counts",
                    len(releases),
                    sum(amount for amount, *_ in counts.values()),
                )
            finally:
                self.sent(counts)


# Redis not answering, as opposed to answering with an error (which is raised).
_UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
OUTAGE_RETRY = 1.0  # seconds a process answers without Redis before asking it again
OUTAGE_LOG_EVERY = 10.0  # seconds between two warnings of one process


class _Outage:
    """Whether this process found Redis unreachable less than OUTAGE_RETRY seconds ago."""

    def __init__(self) -> None:
        self.until = 0.0
        self._logged = -OUTAGE_LOG_EVERY

    def seen(self, error: Exception) -> None:
        now = time.monotonic()
        self.until = now + OUTAGE_RETRY
        if now - self._logged >= OUTAGE_LOG_EVERY:
            self._logged = now
            logger.warning(
                "Redis is unreachable (%s): media limits are off and the workers share "
                "nothing until it answers",
                type(error).__name__,
            )


_outage = _Outage()


def _unless_unreachable(call: Callable[[], Any], fallback: Any) -> Any:
    """`call()`, or `fallback` while Redis is unreachable (asked again after OUTAGE_RETRY)."""
    if time.monotonic() < _outage.until:
        return fallback
    try:
        return call()
    except _UNREACHABLE as error:
        _outage.seen(error)
        return fallback


_MISSING = object()  # an entry Redis did not have, in `_Server.copies`


class _Server:
    """One process's client for one Redis server, and what the process keeps about it:
    its counts and releases not sent yet, the counters' totals Redis last answered and
    copies of the entries last read for an admission."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.script = client.register_script(_COUNT_THEN_GET)
        self.pending = _Pending(self._send_pending)
        self.totals: dict[str, tuple[int, float]] = {}  # counter -> (total, expires at)
        self.copies: dict[str, tuple[Any, float]] = {}  # entry -> (value, read at)

    def _send_pending(self, releases: list[str], counts: dict[str, list[int]]) -> None:
        self.run(releases, counts, [], [], [])

    def run(
        self,
        releases: list[str],
        deferred: dict[str, list[int]],
        counts: list[Count],
        counter_keys: list[str],
        keys: list[str],
    ) -> tuple[list[int], list]:
        args: list[int] = [len(releases), len(deferred)]
        for amount, timeout, lease in deferred.values():
            args += [amount, max(1, int(timeout)), lease]
        for count in counts:
            limit = -1 if count.limit is None else int(count.limit)
            args += [max(1, int(count.timeout)), limit, int(count.lease)]
        reached, values, totals = self.script(
            keys=releases + list(deferred) + counter_keys + keys, args=args
        )
        now = time.monotonic()
        if len(self.totals) > MAX_TOTALS:
            self.totals.clear()
        for (key, (_, timeout, _)), total in zip(deferred.items(), totals, strict=True):
            self.totals[key] = (int(total), now + timeout)
        for count, key, value in zip(counts, counter_keys, reached, strict=False):
            self.totals[key] = (int(value), now + count.timeout)
        return [int(value) for value in reached], values

    def defer(
        self, counts: list[Count], counter_keys: list[str], keys: list[str]
    ) -> tuple[list[int], dict] | None:
        """The counts queued and their estimates, with the entries' copies; None when a
        count or an entry needs Redis now."""
        now = time.monotonic()
        copies = [self.copies.get(key) for key in keys]
        if any(copy is None or now - copy[1] > ENTRY_TTL for copy in copies):
            return None
        reached = []
        for count, key in zip(counts, counter_keys, strict=True):
            least = DEFER_MIN_SLOTS if count.lease else DEFER_MIN_LIMIT
            if count.limit is None or count.limit < least:
                return None
            # What Redis last answered; for a slot, the releases sent since are not
            # taken off, so it errs high (then Redis is asked).
            total, expires = self.totals.get(key, (0, now))
            estimate = (total if expires > now else 0) + self.pending.counted(key) + 1
            if estimate > count.limit // 2:
                return None
            reached.append(estimate)
        for count, key in zip(counts, counter_keys, strict=True):
            self.pending.count(key, count.timeout, count.lease)
        found = {key: copy[0] for key, copy in zip(keys, copies, strict=True)}
        return reached, {key: value for key, value in found.items() if value is not _MISSING}

    def keep_copies(self, found: dict, keys: list[str]) -> None:
        if len(self.copies) > MAX_COPIES:
            self.copies.clear()
        now = time.monotonic()
        for key in keys:
            self.copies[key] = (found.get(key, _MISSING), now)

    def forget(self, keys: list[str]) -> None:
        for key in keys:
            self.copies.pop(key, None)

    def clear(self) -> None:
        """Everything kept of the server's data: it was emptied (`RedisCache.clear`)."""
        self.copies.clear()
        self.totals.clear()


MAX_TOTALS = 20_000  # counter totals one process keeps (then it starts over) ...
MAX_COPIES = 10_000  # ... and entry copies

# One per (server, options) per process: redis.Redis is thread-safe, its pool hands
# each thread a connection, and it resets itself in a forked child.
_servers: dict[tuple[str, str], _Server] = {}
_servers_lock = threading.Lock()


# Connections one process may open to Redis. redis-py's pool allows 100 and then
# raises MaxConnectionsError; a gthread process runs up to GUNICORN_THREADS requests
# at once, each holding a connection for the length of a command. Connections are
# opened only as needed. OPTIONS {"max_connections": n} in CACHES overrides it.
MAX_CONNECTIONS = 1024


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, servers: list[str], **options: Any) -> None:
        options.setdefault("max_connections", MAX_CONNECTIONS)
        super().__init__(servers, **options)

    def get_client(self, key: str | None = None, *, write: bool = False) -> Any:
        return self.server(write).client

    def server(self, write: bool = True) -> _Server:
        index = self._get_connection_pool_index(write)
        try:
            return self._shared[index]
        except (AttributeError, KeyError):
            pass
        address = self._servers[index]
        shared_key = (address, repr(sorted(self._pool_options.items())))
        with _servers_lock:
            server = _servers.get(shared_key)
            if server is None:
                pool = self._pool_class.from_url(address, **self._pool_options)
                server = _servers[shared_key] = _Server(self._client(connection_pool=pool))
        self.__dict__.setdefault("_shared", {})[index] = server
        return server

    def uncount(self, key: str) -> None:
        self.server().pending.release(key)

    def count_then_get(
        self, counts: list[Count], counter_keys: list[str], keys: list[str], may_defer: bool
    ) -> tuple[list[int], dict]:
        server = self.server()
        if may_defer and (deferred := server.defer(counts, counter_keys, keys)) is not None:
            return deferred
        releases, pending = server.pending.take()
        try:
            reached, values = server.run(releases, pending, counts, counter_keys, keys)
        finally:
            server.pending.sent(pending)
        if len(values) < len(keys):  # a count passed its limit: nothing read
            return reached, {}
        loads = self._serializer.loads
        found = {k: loads(v) for k, v in zip(keys, values, strict=True) if v is not None}
        server.keep_copies(found, keys)
        return reached, found

    def forget(self, keys: list[str]) -> None:
        self.server().forget(keys)


class RedisCache(django_redis.RedisCache):
    """Django's RedisCache: one client per process, counters in one round trip, and
    Redis unreachable answered as an empty cache (module docstring)."""

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient

    def count(self, key: str, timeout: int) -> int:
        return self.count_then_get([Count(key, timeout)], [])[0][0]

    def count_up_to(self, key: str, limit: int, timeout: int) -> int:
        return self.count_then_get([Count(key, timeout, limit, lease=True)], [])[0][0]

    def uncount(self, key: str) -> None:
        self._cache.uncount(self.make_key(key))

    def wait_for_releases(self) -> bool:
        time.sleep(RELEASES_SETTLED)
        return True

    def count_then_get(
        self, counts: list[Count], keys: list[str], *, may_defer: bool = False
    ) -> tuple[list[int], dict]:
        """As `Counters.count_then_get`; each count 0 (none counted) while Redis is
        unreachable."""
        counter_keys = [self.make_key(count.key) for count in counts]
        key_map = {self.make_key(key): key for key in keys}
        reached, found = _unless_unreachable(
            lambda: self._cache.count_then_get(counts, counter_keys, list(key_map), may_defer),
            ([0] * len(counts), {}),
        )
        return reached, {key_map[key]: value for key, value in found.items()}

    def validate_key(self, key: str) -> None:
        """Redis takes any key: no warnings about memcached's limits, on every call."""

    # Django's calls, each answered as an empty cache would while Redis is unreachable.
    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return _unless_unreachable(partial(super().get, key, default, version), default)

    def get_many(self, keys: Any, version: Any = None) -> dict:
        return _unless_unreachable(partial(super().get_many, keys, version), {})

    def has_key(self, key: Any, version: Any = None) -> bool:
        return _unless_unreachable(partial(super().has_key, key, version), False)

    # A write drops this process's copy of the entry (`count_then_get(may_defer=True)`).
    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        self._forget([key], version)
        _unless_unreachable(partial(super().set, key, value, timeout, version), None)

    def set_many(self, data: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> list:
        self._forget(list(data), version)
        return _unless_unreachable(partial(super().set_many, data, timeout, version), [])

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        self._forget([key], version)
        # As stored: whoever takes a lock in the cache goes on (the DCS login's).
        return _unless_unreachable(partial(super().add, key, value, timeout, version), True)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return _unless_unreachable(partial(super().touch, key, timeout, version), False)

    def delete(self, key: Any, version: Any = None) -> bool:
        self._forget([key], version)
        return _unless_unreachable(partial(super().delete, key, version), False)

    def delete_many(self, keys: Any, version: Any = None) -> None:
        self._forget(list(keys), version)
        _unless_unreachable(partial(super().delete_many, keys, version), None)

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        self._forget([key], version)
        return _unless_unreachable(partial(super().incr, key, delta, version), delta)

    def clear(self) -> bool:
        self._cache.server().clear()
        return super().clear()

    def _forget(self, keys: list[Any], version: Any) -> None:
        self._cache.forget([self.make_key(key, version=version) for key in keys])


# --- local memory -----------------------------------------------------------------

# Like Django's locmem stores: shared by every thread's instance of a named cache.
_counters: dict[str, dict[str, list[float]]] = {}  # name -> key -> [value, expires at]
_counter_locks: dict[str, threading.Lock] = {}


class LocMemCache(locmem.LocMemCache):
    """Django's LocMemCache (per process), with counters that are never evicted while live."""

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        super().__init__(name, params)
        self._counters = _counters.setdefault(name, {})
        self._counter_lock = _counter_locks.setdefault(name, threading.Lock())
        self._next_sweep = 0.0

    def _live(self, key: str, now: float) -> list[float] | None:
        entry = self._counters.get(key)
        if entry is not None and entry[1] <= now:
            del self._counters[key]
            return None
        return entry

    def _sweep(self, now: float) -> None:
        """Drop expired counters, at most once a second: memory stays bounded by live ones."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + 1.0
        for key in [k for k, (_, expires) in self._counters.items() if expires <= now]:
            del self._counters[key]

    def count(self, key: str, timeout: int) -> int:
        key = self.make_and_validate_key(key)
        now = time.time()
        with self._counter_lock:
            self._sweep(now)
            entry = self._live(key, now)
            if entry is None:
                self._counters[key] = entry = [0, now + timeout]
            entry[0] += 1
            return int(entry[0])

    def count_up_to(self, key: str, limit: int, timeout: int) -> int:
        key = self.make_and_validate_key(key)
        now = time.time()
        with self._counter_lock:
            self._sweep(now)
            entry = self._live(key, now)
            value = (entry[0] if entry else 0) + 1
            if value > limit:
                return int(value)
            if entry is None:
                self._counters[key] = entry = [0, 0.0]
            entry[0], entry[1] = value, now + timeout
            return int(value)

    def count_then_get(
        self, counts: list[Count], keys: list[str], *, may_defer: bool = False
    ) -> tuple[list[int], dict]:
        return count_each(counts, keys, self._count_one, self.get_many)

    def _count_one(self, count: Count) -> int:
        if count.lease:
            return self.count_up_to(count.key, count.limit, count.timeout)
        return self.count(count.key, count.timeout)

    def uncount(self, key: str) -> None:
        key = self.make_and_validate_key(key)
        with self._counter_lock:
            entry = self._live(key, time.time())
            if entry is None:
                return
            entry[0] -= 1
            if entry[0] <= 0:
                del self._counters[key]

    def wait_for_releases(self) -> bool:
        return False

    def counter(self, key: str) -> int | None:
        """A counter's value (None when there is none): for tests and the shell."""
        key = self.make_and_validate_key(key)
        with self._counter_lock:
            entry = self._live(key, time.time())
            return None if entry is None else int(entry[0])

    def clear(self) -> None:
        super().clear()
        with self._counter_lock:
            self._counters.clear()
