"""Plan one media request: which range to ask DCS for, then what to answer.

Pure functions over plain data (no Django, no I/O), in two steps:

1. `choose_upstream_range` picks the one DCS request that both teaches the
   object's size and ETag and, in the common cases, carries exactly the
   bytes the client will get. DCS is not RFC 9110 compliant (it answers 416
   for a last position past the end and reads only the first range), so
   the client's header is never forwarded as it is.
2. Once DCS answered (`read_upstream_answer` checks it told the truth about
   what was asked), `plan_response` decides the client's response from the
   object's real size and ETag (RFC 9110 rules from `ranges`). When DCS's
   body does not cover a range of it (stale size, If-Range mismatch, parts
   far apart) the caller asks for it exactly, or for the `span_to_fetch` of
   nearby ranges: at most one request per part, bounded by `max_parts`.
"""

from __future__ import annotations

import enum
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from media_proxy.ranges import (
    ByteRange,
    ParsedRange,
    Precondition,
    RangeDecision,
    RangeHeaderKind,
    RangeOutcome,
    RangeSpec,
    decide_ranges,
    evaluate_preconditions,
    if_range_allows_partial,
)

PROBE_RANGE = RangeSpec(0, 0, None)
# Several ranges whose gaps add up to no more than this are fetched as one
# span (the gaps read and dropped) rather than one DCS request each.
SPAN_GAP_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class ClientRequest:
    """What the client asked, parsed once from its headers."""

    method: str  # "GET" or "HEAD"
    range: ParsedRange
    if_range: str | None = None
    if_match: str | None = None
    if_none_match: str | None = None
    if_unmodified_since: str | None = None
    if_modified_since: str | None = None

    @property
    def wants_ranges(self) -> bool:
        return self.range.kind in (RangeHeaderKind.SPECS, RangeHeaderKind.INVALID)


def choose_upstream_range(
    request: ClientRequest, known_size: int | None, *, max_parts: int
) -> RangeSpec | None:
    """The Range header for the one DCS request made first (None: the whole object).

    `known_size` is a recently seen size of the object, or None. It only
    makes the request tighter; the answer is always checked against what DCS
    reports, so a stale size costs one more request, never a wrong byte.
    """
    if known_size == 0:
        return None  # DCS answers any Range on a 0-byte object with a 416, without an ETag
    if request.method == "HEAD" or request.range.kind is RangeHeaderKind.INVALID:
        return PROBE_RANGE
    if request.range.kind is not RangeHeaderKind.SPECS:
        return None
    if request.if_range is not None and not _if_range_can_match(request.if_range):
        return None
    if len(request.range.specs) > 1:
        return _first_part_range(request.range, known_size, max_parts)
    spec = request.range.specs[0]
    if spec.suffix_length is not None:
        return spec if spec.suffix_length > 0 else PROBE_RANGE
    assert spec.first is not None
    if known_size is not None and spec.first >= known_size:
        return PROBE_RANGE  # a 416 for the client, but DCS's own 416 would carry no ETag
    if spec.last is None:
        return spec
    if known_size is not None:
        return RangeSpec(spec.first, min(spec.last, known_size - 1), None)
    # Size unknown: DCS would answer 416 to a last position past the end, so
    # ask open-ended and stop reading at `last` (RFC 9110 14.1.2 clamping).
    return RangeSpec(spec.first, None, None)


def _first_part_range(
    parsed: ParsedRange, known_size: int | None, max_parts: int
) -> RangeSpec | None:
    """For several ranges: the first part's bytes when the size is known, else a probe."""
    if known_size is None:
        return PROBE_RANGE
    decision = decide_ranges(parsed, known_size, max_parts=max_parts)
    if decision.outcome is RangeOutcome.FULL:
        return None
    if decision.outcome is RangeOutcome.UNSATISFIABLE:
        return PROBE_RANGE
    return exact_range(span_to_fetch(decision.ranges))


def span_to_fetch(ranges: Sequence[ByteRange]) -> ByteRange:
    """What to ask DCS for to serve `ranges` (sorted, disjoint) from the first on."""
    gaps = sum(b.start - a.end - 1 for a, b in itertools.pairwise(ranges))
    if gaps <= SPAN_GAP_LIMIT:
        return ByteRange(ranges[0].start, ranges[-1].end)
    return ranges[0]


def _if_range_can_match(if_range: str) -> bool:
    # Only a strong entity-tag can ever match: DCS sends no Last-Modified, so
    # an HTTP-date (or a weak tag) always means "send the whole body". An
    # empty value counts as absent, as in `ranges.if_range_allows_partial`.
    value = if_range.strip(" \t")
    return not value or value.startswith('"')


class Status(enum.IntEnum):
    OK = 200
    PARTIAL_CONTENT = 206
    NOT_MODIFIED = 304
    PRECONDITION_FAILED = 412
    RANGE_NOT_SATISFIABLE = 416


@dataclass(frozen=True)
class ResponsePlan:
    status: Status
    size: int
    ranges: tuple[
        ByteRange, ...
    ] = ()  # what the body carries: one for 200/206, several for multipart

    @property
    def has_body(self) -> bool:
        return self.status in (Status.OK, Status.PARTIAL_CONTENT)

    @property
    def is_multipart(self) -> bool:
        return len(self.ranges) > 1


def plan_response(
    request: ClientRequest, size: int, etag: str | None, *, max_parts: int
) -> ResponsePlan:
    """The client's response for an object of `size` bytes with `etag` (RFC 9110 13.2.2 order)."""
    precondition = evaluate_preconditions(
        request.method,
        etag,
        if_match=request.if_match,
        if_none_match=request.if_none_match,
        if_unmodified_since=request.if_unmodified_since,
        if_modified_since=request.if_modified_since,
    )
    if precondition is Precondition.NOT_MODIFIED:
        return ResponsePlan(Status.NOT_MODIFIED, size)
    if precondition is Precondition.PRECONDITION_FAILED:
        return ResponsePlan(Status.PRECONDITION_FAILED, size)
    whole = (ByteRange(0, size - 1),) if size else ()
    if not request.wants_ranges or not if_range_allows_partial(request.if_range, etag):
        return ResponsePlan(Status.OK, size, whole)
    decision: RangeDecision = decide_ranges(request.range, size, max_parts=max_parts)
    if decision.outcome is RangeOutcome.UNSATISFIABLE:
        return ResponsePlan(Status.RANGE_NOT_SATISFIABLE, size)
    if decision.outcome is RangeOutcome.FULL:
        return ResponsePlan(Status.OK, size, whole)
    return ResponsePlan(Status.PARTIAL_CONTENT, size, decision.ranges)


@dataclass(frozen=True)
class UpstreamAnswer:
    """What DCS said about the object: its size and ETag, and which bytes its body carries."""

    size: int
    etag: str | None
    body: ByteRange | None  # None: no body bytes (416, or a 0-byte object)


class UpstreamMismatch(ValueError):
    """DCS answered something other than what was asked: never relay it."""


_DIGITS = re.compile(r"[0-9]{1,19}")
_CONTENT_RANGE = re.compile(r"bytes ([0-9]{1,19})-([0-9]{1,19})/([0-9]{1,19})")
_UNSATISFIED_RANGE = re.compile(r"bytes \*/([0-9]{1,19})")


def read_upstream_answer(
    asked: RangeSpec | None,
    status: int,
    content_range: str | None,
    content_length: str | None,
    etag: str | None,
) -> UpstreamAnswer:
    """Check DCS's status line and headers against the Range we sent; raise UpstreamMismatch."""
    if status == 416:
        match = _UNSATISFIED_RANGE.fullmatch(content_range or "")
        if not match:
            raise UpstreamMismatch(f"416 without a usable Content-Range: {content_range!r}")
        return UpstreamAnswer(int(match[1]), etag, None)
    if status == 200:
        if content_length is None or not _DIGITS.fullmatch(content_length):
            raise UpstreamMismatch(f"200 without a usable Content-Length: {content_length!r}")
        size = int(content_length)
        # A 200 to a Range request means DCS ignored Range: it is the whole
        # object, and the caller slices the bytes it needs out of it.
        return UpstreamAnswer(size, etag, ByteRange(0, size - 1) if size else None)
    if status != 206:
        raise UpstreamMismatch(f"unexpected status {status}")
    match = _CONTENT_RANGE.fullmatch(content_range or "")
    if not match:
        raise UpstreamMismatch(f"206 with a malformed Content-Range: {content_range!r}")
    start, end, size = int(match[1]), int(match[2]), int(match[3])
    if not start <= end < size:
        raise UpstreamMismatch(f"206 with an impossible Content-Range: {content_range!r}")
    body = ByteRange(start, end)
    if content_length is not None and content_length != str(body.length):
        raise UpstreamMismatch(f"Content-Length {content_length} for {content_range!r}")
    # The bytes DCS's contract promises for the single range we sent it.
    expected = asked.resolve(size) if asked is not None else ByteRange(0, size - 1)
    if expected != body:
        shown = asked.header() if asked is not None else "the whole object"
        raise UpstreamMismatch(f"asked {shown}, DCS sent {content_range!r}")
    return UpstreamAnswer(size, etag, body)


def exact_range(wanted: ByteRange) -> RangeSpec:
    """A range DCS answers exactly (it lies inside the object)."""
    return RangeSpec(wanted.start, wanted.end, None)
