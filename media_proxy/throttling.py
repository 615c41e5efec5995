"""Limits on media requests, shared by all workers through the cache (DRF throttle classes).

The counters cost one cache round trip each and are atomic with the cache backends of
`lms.cache` (the shipped ones, `Counters`); any other Django backend falls back to
add/incr/touch/decr, which costs more trips.
"""

import contextlib
import functools
from dataclasses import dataclass

from django.core.cache import cache, caches
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from lms.cache import Counters


@functools.cache
def _has_counters(backend_class: type) -> bool:
    return issubclass(backend_class, Counters)


def _counters() -> Counters | None:
    backend = caches["default"]
    return backend if _has_counters(type(backend)) else None


def increment(key: str, timeout: int) -> int:
    """Add one to a shared counter, creating it with `timeout` (a fixed window)."""
    if (counters := _counters()) is not None:
        return counters.count(key, timeout)
    try:
        return cache.incr(key)
    except ValueError:  # missing or expired
        if cache.add(key, 1, timeout):
            return 1
        return cache.incr(key)  # another worker created it meanwhile


def increment_up_to(key: str, limit: int, lease: int) -> int:
    """Add one unless that passes `limit` (then nothing changes); a grant renews the
    counter's lease. Returns the count it would reach."""
    if (counters := _counters()) is not None:
        return counters.count_up_to(key, limit, lease)
    count = increment(key, lease)
    if count > limit:
        decrement(key)
    elif count > 1:
        cache.touch(key, lease)
    return count


def decrement(key: str) -> None:
    """Take one back from a counter (nothing if it expired meanwhile)."""
    if (counters := _counters()) is not None:
        counters.uncount(key)
        return
    with contextlib.suppress(ValueError):  # the lease expired meanwhile
        cache.decr(key)


class MediaRateThrottle(UserRateThrottle):
    """Media requests per user per window (setting MEDIA_THROTTLE_RATE, e.g. "1200/min").

    DRF's key (the user, else the client address), counted in a fixed window
    (an atomic counter) rather than DRF's request log: a seek costs one
    cache round trip, whatever the rate. Generous by default, since a player
    sends a request on every seek.
    """

    scope = "media"

    def allow_request(self, request: Request, view: APIView) -> bool:
        if self.rate is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        count = increment(f"{self.get_cache_key(request, view)}:{window}", self.duration + 1)
        self._wait = self.duration - (now % self.duration)
        return count <= self.num_requests

    def wait(self) -> float:
        return self._wait


class TokenRateThrottle(AnonRateThrottle):
    """Password attempts at POST /api/v1/auth/token, per client address."""

    scope = "auth"


class TooManyStreams(Throttled):
    default_detail = _("Too many media streams are open for this user.")


@dataclass
class StreamSlot:
    key: str | None
    released: bool = False

    def release(self) -> None:
        if self.released or self.key is None:
            return
        self.released = True
        decrement(self.key)


def acquire_stream_slot(user_id: int, limit: int, lease: int) -> StreamSlot:
    """A slot among the user's `limit` concurrent streams, or TooManyStreams (429).

    Best effort: the counter lives in the shared cache, and its lease,
    renewed by every granted slot, bounds how long the slots of a worker that
    died mid-stream stay taken (a refused request does not renew it).
    """
    if limit <= 0:
        return StreamSlot(None)
    key = f"media:streams:{user_id}"
    if increment_up_to(key, limit, lease) > limit:
        raise TooManyStreams(wait=2)
    return StreamSlot(key)
