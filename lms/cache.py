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
- `LocMemCache` keeps counters apart from the entries it evicts: its MAX_ENTRIES
  culls the least recently used entries, which with a few hundred active users
  were the live counters, so the per-user limits silently reset. A counter is
  dropped only when it expires or comes back to zero.

`media_proxy.throttling` uses these when the backend has them (`Counters`) and
falls back to Django's add/incr/touch/decr on any other backend.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from django.core.cache.backends import locmem
from django.core.cache.backends import redis as django_redis


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
        """Take one back; a counter at zero is dropped, a missing one stays missing."""

    def count_then_get(self, counts: list[Count], keys: list[str]) -> tuple[list[int], dict]:
        """Each count in turn, stopping after the first that passes its limit; then, when
        none did, the entries `keys` (as `get_many`). The counts reached, and the entries."""


# --- Redis ------------------------------------------------------------------------

# KEYS: the counters, then the entries to read. ARGV: per counter its timeout, its limit
# (-1: none) and 1 for a lease. A window's expiry is set only when it has none (EXPIRE
# NX, on any Redis version); a lease over its limit is taken back, else renewed.
_COUNT_THEN_GET = """
local counts = {}
local n = #ARGV / 3
for i = 1, n do
  local key, ttl, limit = KEYS[i], ARGV[3 * i - 2], tonumber(ARGV[3 * i - 1])
  local value = redis.call('INCR', key)
  local over = limit >= 0 and value > limit
  if ARGV[3 * i] ~= '1' then
    if redis.call('TTL', key) == -1 then redis.call('EXPIRE', key, ttl) end
  elseif not over then
    redis.call('EXPIRE', key, ttl)
  elseif value == 1 then
    redis.call('DEL', key)
  else
    redis.call('DECR', key)
  end
  counts[i] = value
  if over then return {counts, {}} end
end
if #KEYS == n then return {counts, {}} end
return {counts, redis.call('MGET', unpack(KEYS, n + 1))}
"""
_UNCOUNT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = redis.call('DECR', KEYS[1])
if n <= 0 then redis.call('DEL', KEYS[1]) end
return n
"""

# One client per (server, options) per process: redis.Redis is thread-safe, its pool
# hands each thread a connection, and it resets itself in a forked child.
_clients: dict[tuple[str, str], Any] = {}
_clients_lock = threading.Lock()


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
        index = self._get_connection_pool_index(write)
        try:
            return self._shared[index]
        except (AttributeError, KeyError):
            pass
        server = self._servers[index]
        shared_key = (server, repr(sorted(self._pool_options.items())))
        with _clients_lock:
            client = _clients.get(shared_key)
            if client is None:
                pool = self._pool_class.from_url(server, **self._pool_options)
                client = self._client(connection_pool=pool)
                client.lms_scripts = {
                    "count_then_get": client.register_script(_COUNT_THEN_GET),
                    "uncount": client.register_script(_UNCOUNT),
                }
                _clients[shared_key] = client
        self.__dict__.setdefault("_shared", {})[index] = client
        return client

    def uncount(self, key: str) -> None:
        self.get_client(key, write=True).lms_scripts["uncount"](keys=[key])

    def count_then_get(
        self, counts: list[Count], counter_keys: list[str], keys: list[str]
    ) -> tuple[list[int], dict]:
        client = self.get_client(None, write=True)
        args: list[int] = []
        for count in counts:
            limit = -1 if count.limit is None else int(count.limit)
            args += [max(1, int(count.timeout)), limit, int(count.lease)]
        reached, values = client.lms_scripts["count_then_get"](keys=counter_keys + keys, args=args)
        # `values` is empty when a count passed its limit.
        loads = self._serializer.loads
        found = {k: loads(v) for k, v in zip(keys, values, strict=False) if v is not None}
        return [int(value) for value in reached], found


class RedisCache(django_redis.RedisCache):
    """Django's RedisCache: one client per process, counters in one round trip."""

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient

    def count(self, key: str, timeout: int) -> int:
        return self.count_then_get([Count(key, timeout)], [])[0][0]

    def count_up_to(self, key: str, limit: int, timeout: int) -> int:
        return self.count_then_get([Count(key, timeout, limit, lease=True)], [])[0][0]

    def uncount(self, key: str) -> None:
        self._cache.uncount(self.make_key(key))

    def count_then_get(self, counts: list[Count], keys: list[str]) -> tuple[list[int], dict]:
        counter_keys = [self.make_key(count.key) for count in counts]
        key_map = {self.make_key(key): key for key in keys}
        reached, found = self._cache.count_then_get(counts, counter_keys, list(key_map))
        return reached, {key_map[key]: value for key, value in found.items()}

    def validate_key(self, key: str) -> None:
        """Redis takes any key: no warnings about memcached's limits, on every call."""


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

    def count_then_get(self, counts: list[Count], keys: list[str]) -> tuple[list[int], dict]:
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
