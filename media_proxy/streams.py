"""One media response's lifecycle: its stream slot and its one log line.

    with open_stream(record, slot) as stream:
        response = responder.respond(obj, client_request, stream)
        return stream.hand_over(response)

A response with a finished body (JSON errors, HEAD, 304/412/416, offload)
ends the stream at once; a streamed body ends it when the server closes the
body (`MediaBody.close`). An exception ends it with the error's status.
Either way the slot is released and one `media_stream` line is logged, once.
"""

from __future__ import annotations

import enum
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.http import HttpResponseBase
from rest_framework.exceptions import APIException

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

    def __str__(self) -> str:
        fields = {k: v for k, v in vars(self).items() if k != "started"}
        fields["duration_ms"] = round((time.monotonic() - self.started) * 1000, 1)
        fields["client_aborted"] = self.outcome is Outcome.CLIENT_ABORTED
        return json.dumps(fields, ensure_ascii=False)


@dataclass
class MediaStream:
    record: StreamRecord
    slot: StreamSlot
    _ended: bool = False

    def end(self) -> None:
        """Release the slot and log the record; only the first call counts."""
        if self._ended:
            return
        self._ended = True
        self.slot.release()
        self.record.log()

    def hand_over(self, response: HttpResponseBase) -> HttpResponseBase:
        """Record the response; end now unless its body is still to be streamed."""
        self.record.status = response.status_code
        if not response.streaming:
            if self.record.method == "GET" and self.record.outcome is not Outcome.OFFLOADED:
                self.record.bytes_sent = len(response.content)
            self.end()
        return response


@contextmanager
def open_stream(record: StreamRecord, slot: StreamSlot) -> Iterator[MediaStream]:
    stream = MediaStream(record, slot)
    try:
        yield stream
    except APIException as error:
        record.status, record.outcome = error.status_code, Outcome.ERROR
        stream.end()
        raise
    except BaseException:
        stream.slot.release()  # a 500 is logged by Django itself
        raise
