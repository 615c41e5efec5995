"""Limits on media requests, shared by all workers through the cache (DRF throttle classes).

The counters are atomic with the cache backends of `lms.cache` (the shipped ones,
`Counters`), and a media request's whole admission (its rate window, its stream
slot and the cache entries its answer decides on) costs one round trip
(`admit_media`), which also carries the slots this process gave back since; one far
from its user's limits, none of its own (counted a moment later, with the next:
`lms.cache`). Any other Django backend falls back to add/incr/touch/decr and
get_many, which cost more trips.
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

from lms.cache import Count, Counters, count_each


@functools.cache
def _has_counters(backend_class: type) -> bool:
    return issubclass(backend_class, Counters)


def _counters() -> Counters | None:
    backend = caches["default"]
    return backend if _has_counters(type(backend)) else None


def count_then_get(
    counts: list[Count], keys: list[str], *, may_defer: bool = False
) -> tuple[list[int], dict]:
    """`Counters.count_then_get` on the default cache: one round trip with the shipped
    backends, none for a deferred one (`may_defer`)."""
    if (counters := _counters()) is not None:
        return counters.count_then_get(counts, keys, may_defer=may_defer)
    return count_each(counts, keys, _increment, cache.get_many)


def _increment(count: Count) -> int:
    """One counter with Django's own cache calls (a backend without `Counters`)."""
    try:
        value = cache.incr(count.key)
    except ValueError:  # missing or expired
        if cache.add(count.key, 1, count.timeout):
            return 1
        value = cache.incr(count.key)  # another worker created it meanwhile
    if not count.lease:
        return value
    if value > count.limit:
        decrement(count.key)
    else:
        cache.touch(count.key, count.timeout)
    return value


def decrement(key: str) -> None:
    """Take one back from a counter (nothing if it expired meanwhile)."""
    if (counters := _counters()) is not None:
        counters.uncount(key)
        return
    with contextlib.suppress(ValueError):  # the lease expired meanwhile
        cache.decr(key)


@dataclass(frozen=True)
class Window:
    """A rate throttle's count for one request, and the seconds until the next window."""

    count: Count
    wait: float


class MediaRateThrottle(UserRateThrottle):
    """Media requests per user per window (setting MEDIA_THROTTLE_RATE, e.g. "1200/min").

    DRF's key (the user, else the client address), counted in a fixed window
    (an atomic counter) rather than DRF's request log: one counter, whatever
    the rate. Generous by default, since a player sends a request on every seek.
    The media view counts it after its access check, with the stream slot
    (`admit_media`), not in DRF's `check_throttles`.
    """

    scope = "media"

    def window(self, request: Request, view: APIView) -> Window | None:
        """This request's count in the current window (None: no limit)."""
        if self.rate is None:
            return None
        now = self.timer()
        key = f"{self.get_cache_key(request, view)}:{int(now // self.duration)}"
        count = Count(key, self.duration + 1, limit=self.num_requests)
        return Window(count, self.duration - (now % self.duration))

    def allow_request(self, request: Request, view: APIView) -> bool:
        window = self.window(request, view)
        if window is None:
            return True
        self._wait = window.wait
        return count_then_get([window.count], [])[0][0] <= self.num_requests

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


def stream_slot(user_id: int, limit: int, lease: int) -> Count | None:
    """A slot among the user's `limit` concurrent streams (None: no limit).

    Best effort: the counter lives in the shared cache, and its lease,
    renewed by every granted slot, bounds how long the slots of a worker that
    died mid-stream stay taken (a refused request does not renew it).
    """
    if limit <= 0:
        return None
    return Count(f"media:streams:{user_id}", lease, limit=limit, lease=True)


def acquire_stream_slot(user_id: int, limit: int, lease: int) -> StreamSlot:
    """`stream_slot` taken on its own, or TooManyStreams (429)."""
    slot, _ = admit_media(None, stream_slot(user_id, limit, lease), [])
    return slot


def admit_media(
    window: Window | None, slot: Count | None, keys: list[str]
) -> tuple[StreamSlot, dict]:
    """A media request's admission, after its access check, in one cache round trip:
    the throttle's `window` (429), then the stream `slot` (429; not taken when the
    window refused), then the cache entries `keys` its answer decides on."""
    counts = [count for count in (window and window.count, slot) if count is not None]
    # Far from both limits, Redis may count them a moment later (`lms.cache`).
    reached, found = count_then_get(counts, keys, may_defer=True)
    if window is not None and reached[0] > window.count.limit:
        raise Throttled(wait=window.wait)
    if slot is None:
        return StreamSlot(None), found
    if reached[-1] > slot.limit and _released_meanwhile():
        # The count may hold slots given back in other processes, not yet sent.
        reached, found = count_then_get([slot], keys)
    if reached[-1] > slot.limit:
        raise TooManyStreams(wait=2)
    # 0: nothing counted (the cache unreachable): no slot to give back.
    return StreamSlot(slot.key if reached[-1] else None), found


def _released_meanwhile() -> bool:
    """Whether, after waiting, the cache holds every slot given back before the call."""
    return (counters := _counters()) is not None and counters.wait_for_releases()
