"""One media response's lifecycle: its place in the bulkhead, its stream slot, its one
log line.

    slot, cached = admit_media(window, stream_slot(...), responder.cache_keys(obj))
    with open_stream(record, slot, cached) as stream:
        response = responder.respond(obj, client_request, stream)
        return stream.hand_over(response)

A response with a finished body (JSON errors, HEAD, 304/412/416, offload)
ends the stream at once; a streamed body ends it when the server closes the
body (`MediaBody.close`). An exception ends it with the error's status.
Either way the place and the slot are released and one `media_stream` line is
logged, once.
"""

from __future__ import annotations

import enum
import json
import logging
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpResponseBase
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import APIException

from media_proxy import metrics
from media_proxy.bulkhead import Bulkhead, media_bulkhead
from media_proxy.throttling import StreamSlot

stream_logger = logging.getLogger("media_proxy.streams")


class Outcome(enum.StrEnum):
    COMPLETE = "complete"
    CLIENT_ABORTED = "client_aborted"
    UPSTREAM_FAILED = "upstream_failed"
    OFFLOADED = "offloaded"  # nginx sends the body
    ERROR = "error"  # answered with an error before any body byte


@dataclass
class StreamRecord:
    """The fields of the one log line written per media response."""

    user: int | None
    book: str
    path: str
    method: str
    range: str | None
    status: int = 0
    bytes_sent: int = 0
    upstream_status: int | None = None
    upstream_ttfb_ms: float | None = None
    started: float = field(default_factory=time.monotonic)
    outcome: Outcome = Outcome.COMPLETE

    def log(self) -> None:
        stream_logger.info("media_stream %s", self)
        metrics.media_responses.labels(self.status, self.outcome.value).inc()
        metrics.media_bytes.inc(self.bytes_sent)

    def __str__(self) -> str:
        fields = {k: v for k, v in vars(self).items() if k != "started"}
        fields["duration_ms"] = round((time.monotonic() - self.started) * 1000, 1)
        fields["client_aborted"] = self.outcome is Outcome.CLIENT_ABORTED
        return json.dumps(fields, ensure_ascii=False)


@dataclass
class MediaStream:
    record: StreamRecord
    slot: StreamSlot
    bulkhead: Bulkhead | None = None  # the place it holds, if any
    cached: dict | None = None  # the cache entries read at its admission (`admit_media`)
    _ended: bool = False

    def end(self) -> None:
        """Release the slot and the place, log the record; only the first call counts."""
        if self._ended:
            return
        self._ended = True
        self.slot.release()
        if self.bulkhead is not None:
            self.bulkhead.leave()
            metrics.streams_in_flight.dec()
        self.record.log()

    def hand_over(self, response: HttpResponseBase) -> HttpResponseBase:
        """Record the response; end now unless its body is still to be streamed."""
        self.record.status = response.status_code
        if not response.streaming:
            if self.record.method == "GET" and self.record.outcome is not Outcome.OFFLOADED:
                self.record.bytes_sent = len(response.content)
            self.end()
        return response


class MediaBusy(APIException):
    status_code = 503
    default_detail = _("Too many media requests are running. Please try again in a moment.")
    default_code = "media_busy"
    wait = 1  # Retry-After


@contextmanager
def open_stream(
    record: StreamRecord, slot: StreamSlot, cached: dict | None = None
) -> Iterator[MediaStream]:
    """The lifecycle of a stream admitted with `slot` (`admit_media`, which read the
    cache entries `cached`): a place in the bulkhead (503 at once when full), then
    one log line at the end."""
    bulkhead = media_bulkhead()
    if not bulkhead.enter():
        slot.release()
        metrics.bulkhead_rejections.inc()
        raise MediaBusy()
    metrics.streams_in_flight.inc()
    stream = MediaStream(record, slot, bulkhead, cached)
    try:
        yield stream
    except APIException as error:
        record.status, record.outcome = error.status_code, Outcome.ERROR
        stream.end()
        raise
    except BaseException:
        stream._ended = True  # a 500 is logged by Django itself
        slot.release()
        bulkhead.leave()
        metrics.streams_in_flight.dec()
        raise


def prepare_to_stream(environ: Mapping[str, Any], *, send_timeout: float, send_buffer: int) -> None:
    """What a streamed body keeps while its player reads, or pauses:

    - a send timeout: a player that accepts no byte for `send_timeout` seconds (a
      paused video, a lost phone) is cut; the server's write fails, the body is
      closed, DCS released;
    - a send buffer of `send_buffer` bytes (SO_SNDBUF, where autotuning lets a paused
      player pin MiBs of kernel memory).

    (Its database connection went back before the admission: `MediaView.get`.)

    gunicorn hands the client socket to the application (`gunicorn.socket`); under
    other servers there is no such key and their own limits apply.
    """
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        if send_timeout > 0:
            sock.settimeout(send_timeout)
        if send_buffer > 0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
