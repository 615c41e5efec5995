"""The bulkhead: media may hold at most a share of a worker process's capacity.

Media requests (streams, DCS probes, subtitle conversions) take a place for as
long as they run; past `MEDIA_MAX_CONCURRENT` places the next one is answered
503 at once, so login, course pages and the admin keep the rest of the
process's threads even when DCS hangs or hundreds of players pause.
"""

from __future__ import annotations

import functools
import threading

from django.conf import settings


class Bulkhead:
    def __init__(self, size: int) -> None:
        self.size = size
        self._places = threading.BoundedSemaphore(size) if size > 0 else None

    def enter(self) -> bool:
        """Take a place if one is free, without waiting."""
        return self._places is None or self._places.acquire(blocking=False)

    def leave(self) -> None:
        if self._places is not None:
            self._places.release()


@functools.cache
def media_bulkhead() -> Bulkhead:
    return Bulkhead(settings.MEDIA_MAX_CONCURRENT)
