"""Limits on media requests, shared by all workers through the cache (DRF throttle classes)."""

import contextlib
from dataclasses import dataclass

from django.core.cache import cache
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework.views import APIView


def increment(key: str, timeout: int) -> int:
    """Add one to a shared counter, creating it with `timeout`: one cache round trip
    in the common case (the counter exists)."""
    try:
        return cache.incr(key)
    except ValueError:  # missing or expired
        if cache.add(key, 1, timeout):
            return 1
        return cache.incr(key)  # another worker created it meanwhile


class MediaRateThrottle(UserRateThrottle):
    """Media requests per user per window (setting MEDIA_THROTTLE_RATE, e.g. "1200/min").

    DRF's key (the user, else the client address), counted in a fixed window
    (atomic `cache.incr`) rather than DRF's request log: a seek costs one
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
    default_detail = "Too many media streams are open for this user."


@dataclass
class StreamSlot:
    key: str | None
    released: bool = False

    def release(self) -> None:
        if self.released or self.key is None:
            return
        self.released = True
        with contextlib.suppress(ValueError):  # the lease expired meanwhile
            cache.decr(self.key)


def acquire_stream_slot(user_id: int, limit: int, lease: int) -> StreamSlot:
    """A slot among the user's `limit` concurrent streams, or TooManyStreams (429).

    Best effort: the counter lives in the shared cache, and its lease,
    renewed by every granted slot, bounds how long the slots of a worker that
    died mid-stream stay taken (a refused request does not renew it).
    """
    if limit <= 0:
        return StreamSlot(None)
    key = f"media:streams:{user_id}"
    count = increment(key, lease)
    slot = StreamSlot(key)
    if count > limit:
        slot.release()
        raise TooManyStreams(wait=2)
    if count > 1:
        cache.touch(key, lease)
    return slot
