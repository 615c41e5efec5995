"""The streamed body over a fake upstream: which bytes reach the client, and what DCS is asked.

`MediaBody` relays the planned parts out of upstream bodies: it skips and keeps
bytes between parts of one span, opens one more exact request for a part far
away, cuts the client off when DCS sends less than promised, and always
closes what it opened. The responder's refetch refuses an object that changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from django.core.cache import cache

from media_proxy.body import BodyReader, MediaBody, UpstreamBodyCut, body_shape
from media_proxy.dcs import DCSUnavailable
from media_proxy.objects import MediaObject
from media_proxy.planning import ClientRequest, ResponsePlan, Status
from media_proxy.ranges import ByteRange, parse_range_header
from media_proxy.responder import MediaResponder
from media_proxy.streams import MediaStream, Outcome, StreamRecord
from media_proxy.throttling import StreamSlot

OBJECT = bytes(range(256)) * 16  # 4 KiB, every offset recognisable


class FakeUpstream:
    """An upstream body carrying `data`, sent in chunks of `chunk` bytes."""

    def __init__(self, data: bytes, chunk: int = 7) -> None:
        self.data, self.chunk = data, chunk
        self.released = self.closed = False

    def iter_body(self, chunk_size: int) -> Iterator[bytes]:
        for i in range(0, len(self.data), self.chunk):
            yield self.data[i : i + self.chunk]

    def release(self) -> None:
        self.released = True

    def close(self) -> None:
        self.closed = True


def reader_for(body: ByteRange, data: bytes = OBJECT, chunk: int = 7) -> BodyReader:
    return BodyReader(FakeUpstream(data[body.start : body.end + 1], chunk), body, 64)


def stream() -> MediaStream:
    record = StreamRecord(user=1, book="b", path="a.mp3", method="GET", range=None)
    return MediaStream(record, StreamSlot(None))


def plan(*ranges: tuple[int, int]) -> ResponsePlan:
    return ResponsePlan(Status.PARTIAL_CONTENT, len(OBJECT), tuple(ByteRange(*r) for r in ranges))


class Fetches:
    """The `fetch` MediaBody calls for a part the open body does not cover."""

    def __init__(self) -> None:
        self.asked: list[ByteRange] = []

    def __call__(self, ranges: Sequence[ByteRange]) -> BodyReader:
        self.asked.append(ranges[0])
        return reader_for(ranges[0])


def drain(body) -> tuple[bytes, Exception | None]:
    """What the client received before the body ended, and the error that ended it."""
    received = b""
    try:
        for chunk in body:
            received += chunk
    except Exception as error:
        return received, error
    return received, None


def expected(plan_: ResponsePlan, shape) -> bytes:
    return (
        b"".join(header + OBJECT[r.start : r.end + 1] for header, r in shape.parts) + shape.closing
    )


@pytest.mark.parametrize("chunk", [1, 7, 100, 4096])
def test_parts_of_one_span_skip_the_gaps_and_keep_what_follows(chunk):
    the_plan = plan((10, 19), (25, 40), (41, 41), (900, 1000))
    shape = body_shape(the_plan, "audio/mpeg", "BOUNDARY")
    first = reader_for(ByteRange(10, 1000), chunk=chunk)
    fetches = Fetches()
    body = MediaBody(first, shape, fetches, stream())
    assert b"".join(body) == expected(the_plan, shape)
    assert fetches.asked == []  # one span served every part
    assert first.upstream.released


def test_a_part_the_open_body_does_not_cover_costs_one_exact_request():
    the_plan = plan((0, 9), (3000, 3009), (4000, 4095))
    shape = body_shape(the_plan, "audio/mpeg", "B")
    first = reader_for(ByteRange(0, 9))
    fetches = Fetches()
    body = MediaBody(first, shape, fetches, stream())
    assert b"".join(body) == expected(the_plan, shape)
    assert fetches.asked == [ByteRange(3000, 3009), ByteRange(4000, 4095)]
    assert first.upstream.released


@pytest.mark.parametrize(("last", "turns"), [(899, 0), (999, 0), (4095, 4)])
def test_a_long_body_takes_turns_and_a_short_one_never_waits(monkeypatch, last, turns):
    monkeypatch.setattr("media_proxy.body.TURN_BYTES", 1000)
    taken = []
    monkeypatch.setattr("media_proxy.body.time.sleep", taken.append)
    the_plan = plan((0, last))
    shape = body_shape(the_plan, "audio/mpeg", "B")
    body = MediaBody(reader_for(ByteRange(0, last), chunk=100), shape, Fetches(), stream())
    assert b"".join(body) == OBJECT[: last + 1]
    assert taken == [0] * turns  # after each 1,000 bytes, never after the last


def test_a_single_range_is_bytes_only():
    the_plan = plan((100, 299))
    shape = body_shape(the_plan, "audio/mpeg", "unused")
    assert shape.content_range == f"bytes 100-299/{len(OBJECT)}"
    assert shape.content_length == 200
    body = MediaBody(reader_for(ByteRange(100, len(OBJECT) - 1)), shape, Fetches(), stream())
    assert b"".join(body) == OBJECT[100:300]


def test_a_cut_upstream_body_cuts_the_client_and_is_closed():
    the_plan = plan((0, 99))
    shape = body_shape(the_plan, "audio/mpeg", "B")
    short = BodyReader(FakeUpstream(OBJECT[:50]), ByteRange(0, 99), 64)
    media_stream = stream()
    body = MediaBody(short, shape, Fetches(), media_stream)
    received, error = drain(body)
    body.close()
    assert isinstance(error, UpstreamBodyCut)
    assert received == OBJECT[:50]
    assert short.upstream.closed
    assert media_stream.record.outcome is Outcome.UPSTREAM_FAILED


def test_a_client_that_goes_away_closes_the_upstream_and_is_recorded():
    shape = body_shape(plan((0, 999)), "audio/mpeg", "B")
    reader = reader_for(ByteRange(0, 999))
    media_stream = stream()
    body = MediaBody(reader, shape, Fetches(), media_stream)
    next(iter(body))
    body.close()
    body.close()  # the server may call it again
    assert reader.upstream.closed
    assert media_stream.record.outcome is Outcome.CLIENT_ABORTED


# ------------------------------------------------------------------ the responder's refetch


class FakeDCSResponse(FakeUpstream):
    def __init__(self, data: bytes, status: int, headers: dict[str, str]) -> None:
        super().__init__(data)
        self.status, self.headers = status, headers

    def __enter__(self) -> FakeDCSResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeDCS:
    """Answers exact ranges of BIG; its ETag changes after `changes_after` requests."""

    def __init__(self, changes_after: int) -> None:
        self.changes_after = changes_after
        self.asked: list[str | None] = []

    def admit(self, obj, found=None) -> tuple[None, None]:
        return None, None  # no breaker, nothing cached

    def open(self, obj, range_header, ticket=None) -> FakeDCSResponse:
        self.asked.append(range_header)
        etag = '"v1"' if len(self.asked) <= self.changes_after else '"v2"'
        wanted = parse_range_header(range_header).specs[0].resolve(len(BIG))
        data = BIG[wanted.start : wanted.end + 1]
        headers = {
            "Content-Range": wanted.content_range(len(BIG)),
            "Content-Length": str(len(data)),
            "ETag": etag,
        }
        return FakeDCSResponse(data, 206, headers)


BIG = bytes(range(256)) * (12 * 1024)  # 3 MiB: parts 3 MB apart are fetched one by one
FAR = 3_000_000


def far_apart_request() -> ClientRequest:
    return ClientRequest(method="GET", range=parse_range_header(f"bytes=0-9,{FAR}-{FAR + 9}"))


@pytest.fixture
def respond():
    cache.clear()
    responder = MediaResponder(
        None, chunk_size=64, max_age=60, max_parts=16, size_ttl=60, subtitle_max_bytes=1024
    )

    def respond(dcs: FakeDCS, media_stream: MediaStream):
        responder._source = dcs
        return responder.respond(MediaObject("P", "B", "a.mp3"), far_apart_request(), media_stream)

    return respond


# Closing a Django response sends request_finished, which closes database connections.
@pytest.mark.django_db
def test_parts_far_apart_are_fetched_one_exact_request_each(respond):
    dcs = FakeDCS(changes_after=99)
    response = respond(dcs, stream())
    body = b"".join(response.streaming_content)
    response.close()
    assert BIG[0:10] in body
    assert BIG[FAR : FAR + 10] in body
    # the probe (size unknown), then one exact request per part
    assert dcs.asked == ["bytes=0-0", "bytes=0-9", f"bytes={FAR}-{FAR + 9}"]


@pytest.mark.django_db
def test_the_object_changing_while_it_is_served_cuts_the_client(respond):
    dcs = FakeDCS(changes_after=2)  # the probe and the first part see v1, the second v2
    media_stream = stream()
    response = respond(dcs, media_stream)
    received, error = drain(response.streaming_content)
    response.close()
    assert isinstance(error, DCSUnavailable)
    assert "changed" in str(error)
    assert BIG[0:10] in received
    assert BIG[FAR : FAR + 10] not in received
    assert media_stream.record.outcome is Outcome.UPSTREAM_FAILED
