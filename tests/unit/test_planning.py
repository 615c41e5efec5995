"""Table-driven tests for media_proxy.planning: what to ask DCS, what to answer the client.

The RFC 9110 primitives underneath (parsing, decide_ranges, preconditions) have their
own tests in test_ranges*.py; these rows check the planner's choices on top of them and,
with a small model of the DCS contract's Range table (dcs-contract.md), that the planner
never sends DCS a header that DCS answers differently from RFC 9110.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media_proxy.planning import (
    PROBE_RANGE,
    ClientRequest,
    ResponsePlan,
    Status,
    UpstreamAnswer,
    UpstreamMismatch,
    choose_upstream_range,
    exact_range,
    plan_response,
    read_upstream_answer,
)
from media_proxy.ranges import (
    ByteRange,
    RangeOutcome,
    RangeSpec,
    decide_ranges,
    parse_range_header,
)

MAX_PARTS = 16
ETAG = '"v1"'
OLD_ETAG = '"v0"'
DATE = "Wed, 21 Oct 2015 07:28:00 GMT"


def req(range_header: str | None = None, method: str = "GET", **conditions: str) -> ClientRequest:
    return ClientRequest(method=method, range=parse_range_header(range_header), **conditions)


def br(start: int, end: int) -> ByteRange:
    return ByteRange(start, end)


def header(spec: RangeSpec | None) -> str | None:
    """The Range header a planned upstream range is sent as (None: no header)."""
    return spec.header() if spec is not None else None


def spec(range_header: str | None) -> RangeSpec | None:
    """A single-range header as the value the planner passes around."""
    return parse_range_header(range_header).specs[0] if range_header else None


PROBE = header(PROBE_RANGE)


def cases(rows: list[NamedTuple]) -> list:
    """pytest params from named rows whose first field is the id."""
    return [pytest.param(*row[1:], id=row[0]) for row in rows]


# --------------------------------------------------------------------------- choose_upstream_range


class UpstreamRow(NamedTuple):
    id: str
    request: ClientRequest
    known_size: int | None
    expected: str | None


UPSTREAM_ROWS = [
    # HEAD never needs body bytes: the cheapest request that reports size and ETag.
    UpstreamRow("HEAD, no Range", req(method="HEAD"), None, PROBE),
    UpstreamRow("HEAD, no Range, size known", req(method="HEAD"), 100, PROBE),
    UpstreamRow("HEAD with a Range", req("bytes=5-9", method="HEAD"), 100, PROBE),
    # An invalid bytes range is a 416 whatever the object: only its size is needed.
    UpstreamRow("invalid: last < first", req("bytes=5-1"), None, PROBE),
    UpstreamRow("invalid: last < first, size known", req("bytes=5-1"), 100, PROBE),
    UpstreamRow("invalid: garbage", req("bytes=abc"), None, PROBE),
    UpstreamRow("invalid: bare dash", req("bytes=-"), 100, PROBE),
    # No Range, or one to ignore: the whole object.
    UpstreamRow("no Range", req(), None, None),
    UpstreamRow("no Range, size known", req(), 100, None),
    UpstreamRow("empty Range", req(""), 100, None),
    UpstreamRow("unknown unit", req("items=0-5"), None, None),
    UpstreamRow("unknown unit, size known", req("items=0-5"), 100, None),
    UpstreamRow("If-Range without Range", req(if_range=ETAG), 100, None),
    # If-Range that can never match (DCS sends no Last-Modified): the whole object.
    UpstreamRow("If-Range date", req("bytes=5-9", if_range=DATE), 100, None),
    UpstreamRow("If-Range date, size unknown", req("bytes=5-", if_range=DATE), None, None),
    UpstreamRow("If-Range weak tag", req("bytes=5-9", if_range='W/"v1"'), 100, None),
    # A strong If-Range may match: plan as if it will.
    UpstreamRow("If-Range strong tag", req("bytes=5-9", if_range=ETAG), 100, "bytes=5-9"),
    UpstreamRow("If-Range strong, size unknown", req("bytes=5-9", if_range=ETAG), None, "bytes=5-"),
    # plan_response (ranges.if_range_allows_partial) reads an empty If-Range as absent
    # and answers 206; the upstream request should carry those bytes too.
    UpstreamRow("empty If-Range is absent", req("bytes=5-9", if_range=""), 100, "bytes=5-9"),
    # Single suffix: DCS answers `-n` like RFC 9110, even for n past the size.
    UpstreamRow("suffix", req("bytes=-10"), None, "bytes=-10"),
    UpstreamRow("suffix, size known", req("bytes=-10"), 100, "bytes=-10"),
    UpstreamRow("suffix longer than the object", req("bytes=-500"), 100, "bytes=-500"),
    UpstreamRow("suffix -0 is never sent (DCS 416)", req("bytes=-0"), None, PROBE),
    UpstreamRow("suffix -0, size known", req("bytes=-0"), 100, PROBE),
    # Open-ended: sent as it is.
    UpstreamRow("Chrome's first request", req("bytes=0-"), None, "bytes=0-"),
    UpstreamRow("Chrome's first request, size known", req("bytes=0-"), 100, "bytes=0-"),
    UpstreamRow("seek", req("bytes=50-"), 100, "bytes=50-"),
    UpstreamRow("open past the known end: probe for the ETag", req("bytes=500-"), 100, PROBE),
    # Closed, size known: clamped to the size, because DCS answers 416 past the end.
    UpstreamRow("Safari's probe, size known", req("bytes=0-1"), 100, "bytes=0-1"),
    UpstreamRow("closed within", req("bytes=10-19"), 100, "bytes=10-19"),
    UpstreamRow("closed ending on the last byte", req("bytes=10-99"), 100, "bytes=10-99"),
    UpstreamRow("closed past the end is clamped", req("bytes=10-999"), 100, "bytes=10-99"),
    UpstreamRow("closed on the last byte only", req("bytes=99-200"), 100, "bytes=99-99"),
    UpstreamRow("huge last position", req("bytes=0-" + "9" * 30), 100, "bytes=0-99"),
    UpstreamRow("closed starting at the end: probe", req("bytes=100-200"), 100, PROBE),
    UpstreamRow("0-byte object: no Range (a 416 has no ETag)", req("bytes=0-0"), 0, None),
    UpstreamRow("HEAD of a known 0-byte object", req(method="HEAD"), 0, None),
    # Closed, size unknown: open-ended, the caller stops reading at `last`.
    UpstreamRow("Safari's probe, size unknown", req("bytes=0-1"), None, "bytes=0-"),
    UpstreamRow("closed, size unknown", req("bytes=10-19"), None, "bytes=10-"),
    UpstreamRow("huge last position, size unknown", req("bytes=0-" + "9" * 30), None, "bytes=0-"),
    # Several ranges, size unknown: DCS reads only the first, so probe.
    UpstreamRow("multi, size unknown", req("bytes=0-1,5-6"), None, PROBE),
    UpstreamRow("multi suffix first, size unknown", req("bytes=-5,0-1"), None, PROBE),
    # Several ranges, size known: the first part after sorting and coalescing.
    UpstreamRow("multi nearby: one span", req("bytes=0-1,5-6"), 100, "bytes=0-6"),
    UpstreamRow("multi out of order", req("bytes=5-6,0-1"), 100, "bytes=0-6"),
    UpstreamRow("multi suffix sorts last", req("bytes=-5,10-11"), 100, "bytes=10-99"),
    UpstreamRow("multi overlapping coalesced", req("bytes=0-5,3-9,50-59"), 100, "bytes=0-59"),
    UpstreamRow("multi adjacent coalesced", req("bytes=0-49,50-99"), 100, "bytes=0-99"),
    UpstreamRow("multi, unsatisfiable first dropped", req("bytes=200-300,5-9"), 100, "bytes=5-9"),
    UpstreamRow("multi past the end clamped", req("bytes=90-200,0-1"), 100, "bytes=0-99"),
    UpstreamRow(
        "multi far apart: first part only",
        req("bytes=0-1,5000000-5000001"),
        10_000_000,
        "bytes=0-1",
    ),
    UpstreamRow("multi adding up to more than the size", req("bytes=0-,0-"), 100, None),
    UpstreamRow(
        "multi over max_parts",
        req("bytes=" + ",".join(f"{10 * i}-{10 * i}" for i in range(MAX_PARTS + 1))),
        1000,
        None,
    ),
    UpstreamRow("multi, none satisfiable", req("bytes=200-300,400-"), 100, PROBE),
    UpstreamRow("multi, 0-byte object", req("bytes=0-1,5-6"), 0, None),
]


@pytest.mark.parametrize(("request_", "known_size", "expected"), cases(UPSTREAM_ROWS))
def test_choose_upstream_range(request_, known_size, expected):
    assert header(choose_upstream_range(request_, known_size, max_parts=MAX_PARTS)) == expected


# --------------------------------------------------------------------------- plan_response


def plan(status: Status, size: int = 100, *ranges: ByteRange) -> ResponsePlan:
    return ResponsePlan(status, size, ranges)


def partial(*ranges: ByteRange) -> ResponsePlan:
    return plan(Status.PARTIAL_CONTENT, 100, *ranges)


WHOLE = plan(Status.OK, 100, br(0, 99))
NOT_MODIFIED = plan(Status.NOT_MODIFIED)
FAILED = plan(Status.PRECONDITION_FAILED)
UNSATISFIABLE = plan(Status.RANGE_NOT_SATISFIABLE)


class PlanRow(NamedTuple):
    id: str
    request: ClientRequest
    size: int
    etag: str | None
    expected: ResponsePlan


PLAN_ROWS = [
    PlanRow("no Range", req(), 100, ETAG, WHOLE),
    PlanRow("bytes=0- is a 206", req("bytes=0-"), 100, ETAG, partial(br(0, 99))),
    PlanRow("Safari's probe", req("bytes=0-1"), 100, ETAG, partial(br(0, 1))),
    PlanRow("suffix", req("bytes=-10"), 100, ETAG, partial(br(90, 99))),
    PlanRow("clamped", req("bytes=50-1000"), 100, ETAG, partial(br(50, 99))),
    PlanRow("past the end", req("bytes=100-"), 100, ETAG, UNSATISFIABLE),
    PlanRow("suffix -0", req("bytes=-0"), 100, ETAG, UNSATISFIABLE),
    PlanRow("invalid Range is a 416", req("bytes=5-1"), 100, ETAG, UNSATISFIABLE),
    PlanRow("unknown unit ignored", req("items=0-5"), 100, ETAG, WHOLE),
    PlanRow("multipart, sorted", req("bytes=10-11,0-1"), 100, ETAG, partial(br(0, 1), br(10, 11))),
    PlanRow("ranges adding up to more than the size", req("bytes=0-,0-"), 100, ETAG, WHOLE),
    # Preconditions before Range (RFC 9110 13.2.2).
    PlanRow("If-None-Match beats Range", req("bytes=0-1", if_none_match=ETAG), 100, ETAG,
            NOT_MODIFIED),
    PlanRow("If-None-Match beats an invalid Range", req("bytes=5-1", if_none_match=ETAG), 100,
            ETAG, NOT_MODIFIED),
    PlanRow("If-None-Match weak comparison", req(if_none_match='W/"v1"'), 100, ETAG, NOT_MODIFIED),
    PlanRow("If-None-Match *", req(if_none_match="*"), 100, ETAG, NOT_MODIFIED),
    PlanRow("If-None-Match list", req(if_none_match=f"{OLD_ETAG}, {ETAG}"), 100, ETAG,
            NOT_MODIFIED),
    PlanRow("If-None-Match other tag", req("bytes=0-1", if_none_match=OLD_ETAG), 100, ETAG,
            partial(br(0, 1))),
    PlanRow("If-None-Match, ETag unknown", req(if_none_match=ETAG), 100, None, WHOLE),
    PlanRow("If-Match fails", req(if_match=OLD_ETAG), 100, ETAG, FAILED),
    PlanRow("If-Match fails with a Range", req("bytes=0-1", if_match=OLD_ETAG), 100, ETAG, FAILED),
    PlanRow("If-Match weak tag fails", req(if_match='W/"v1"'), 100, ETAG, FAILED),
    PlanRow("If-Match, ETag unknown", req(if_match=ETAG), 100, None, FAILED),
    PlanRow("If-Match before If-None-Match", req(if_match=OLD_ETAG, if_none_match=ETAG), 100,
            ETAG, FAILED),
    PlanRow("If-Match passes", req("bytes=0-1", if_match=ETAG), 100, ETAG, partial(br(0, 1))),
    PlanRow("If-Match *, ETag unknown", req(if_match="*"), 100, None, WHOLE),
    PlanRow("If-Modified-Since: no date", req(if_modified_since=DATE), 100, ETAG, WHOLE),
    PlanRow("If-Unmodified-Since: no date", req(if_unmodified_since=DATE), 100, ETAG, WHOLE),
    # If-Range: the strong comparison, and only together with a Range.
    PlanRow("If-Range match", req("bytes=0-1", if_range=ETAG), 100, ETAG, partial(br(0, 1))),
    PlanRow("If-Range mismatch", req("bytes=0-1", if_range=OLD_ETAG), 100, ETAG, WHOLE),
    PlanRow("If-Range weak", req("bytes=0-1", if_range='W/"v1"'), 100, ETAG, WHOLE),
    PlanRow("If-Range date", req("bytes=0-1", if_range=DATE), 100, ETAG, WHOLE),
    PlanRow("If-Range, ETag unknown", req("bytes=0-1", if_range=ETAG), 100, None, WHOLE),
    PlanRow("If-Range mismatch beats 416", req("bytes=500-", if_range=OLD_ETAG), 100, ETAG, WHOLE),
    PlanRow("If-Range match, unsatisfiable", req("bytes=500-", if_range=ETAG), 100, ETAG,
            UNSATISFIABLE),
    # HEAD answers what GET would.
    PlanRow("HEAD", req(method="HEAD"), 100, ETAG, WHOLE),
    PlanRow("HEAD with a Range", req("bytes=0-1", method="HEAD"), 100, ETAG, partial(br(0, 1))),
    PlanRow("HEAD unsatisfiable", req("bytes=100-", method="HEAD"), 100, ETAG, UNSATISFIABLE),
    PlanRow("HEAD If-None-Match", req(method="HEAD", if_none_match=ETAG), 100, ETAG, NOT_MODIFIED),
    # A 0-byte object: a 200 without body bytes; every range is unsatisfiable.
    PlanRow("0 bytes", req(), 0, ETAG, plan(Status.OK, 0)),
    PlanRow("0 bytes, HEAD", req(method="HEAD"), 0, ETAG, plan(Status.OK, 0)),
    PlanRow("0 bytes, bytes=0-", req("bytes=0-"), 0, ETAG, plan(Status.RANGE_NOT_SATISFIABLE, 0)),
    PlanRow("0 bytes, suffix", req("bytes=-5"), 0, ETAG, plan(Status.RANGE_NOT_SATISFIABLE, 0)),
    PlanRow("0 bytes, If-None-Match", req("bytes=0-", if_none_match=ETAG), 0, ETAG,
            plan(Status.NOT_MODIFIED, 0)),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "size", "etag", "expected"), cases(PLAN_ROWS))
def test_plan_response(request_, size, etag, expected):
    assert plan_response(request_, size, etag, max_parts=MAX_PARTS) == expected


@pytest.mark.parametrize(
    ("plan_", "has_body", "is_multipart"),
    [
        (plan(Status.OK, 100, br(0, 99)), True, False),
        (plan(Status.OK, 0), True, False),
        (plan(Status.PARTIAL_CONTENT, 100, br(0, 1)), True, False),
        (plan(Status.PARTIAL_CONTENT, 100, br(0, 1), br(5, 6)), True, True),
        (plan(Status.NOT_MODIFIED), False, False),
        (plan(Status.PRECONDITION_FAILED), False, False),
        (plan(Status.RANGE_NOT_SATISFIABLE), False, False),
    ],
    ids=["200", "200 empty", "206", "206 multipart", "304", "412", "416"],
)
def test_response_plan_properties(plan_, has_body, is_multipart):
    assert (plan_.has_body, plan_.is_multipart) == (has_body, is_multipart)


# --------------------------------------------------------------------------- read_upstream_answer


class AnswerRow(NamedTuple):
    id: str
    asked: str | None
    status: int
    content_range: str | None
    content_length: str | None
    expected: UpstreamAnswer


ANSWER_ROWS = [
    AnswerRow("200 whole object", None, 200, None, "100", UpstreamAnswer(100, ETAG, br(0, 99))),
    AnswerRow("200 empty object", None, 200, None, "0", UpstreamAnswer(0, ETAG, None)),
    AnswerRow("200 to a Range: whole object", "bytes=5-9", 200, None, "100",
              UpstreamAnswer(100, ETAG, br(0, 99))),
    AnswerRow("206 probe", "bytes=0-0", 206, "bytes 0-0/100", "1",
              UpstreamAnswer(100, ETAG, br(0, 0))),
    AnswerRow("206 open", "bytes=10-", 206, "bytes 10-99/100", "90",
              UpstreamAnswer(100, ETAG, br(10, 99))),
    AnswerRow("206 bytes=0-", "bytes=0-", 206, "bytes 0-99/100", "100",
              UpstreamAnswer(100, ETAG, br(0, 99))),
    AnswerRow("206 suffix", "bytes=-10", 206, "bytes 90-99/100", "10",
              UpstreamAnswer(100, ETAG, br(90, 99))),
    AnswerRow("206 suffix longer than the object", "bytes=-500", 206, "bytes 0-99/100", "100",
              UpstreamAnswer(100, ETAG, br(0, 99))),
    AnswerRow("206 closed", "bytes=10-19", 206, "bytes 10-19/100", "10",
              UpstreamAnswer(100, ETAG, br(10, 19))),
    AnswerRow("206 without Content-Length", "bytes=10-19", 206, "bytes 10-19/100", None,
              UpstreamAnswer(100, ETAG, br(10, 19))),
    AnswerRow("416 tells the size", "bytes=200-", 416, "bytes */100", None,
              UpstreamAnswer(100, ETAG, None)),
    AnswerRow("416 for a 0-byte object", "bytes=0-0", 416, "bytes */0", None,
              UpstreamAnswer(0, ETAG, None)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("asked", "status", "content_range", "content_length", "expected"), cases(ANSWER_ROWS)
)
def test_read_upstream_answer_accepts_the_contract(
    asked, status, content_range, content_length, expected
):
    answer = read_upstream_answer(spec(asked), status, content_range, content_length, ETAG)
    assert answer == expected


class LieRow(NamedTuple):
    id: str
    asked: str | None
    status: int
    content_range: str | None
    content_length: str | None


LIE_ROWS = [
    LieRow("wrong start", "bytes=10-19", 206, "bytes 0-9/100", "10"),
    LieRow("wrong end", "bytes=10-19", 206, "bytes 10-20/100", "11"),
    LieRow("open range cut short", "bytes=10-", 206, "bytes 10-49/100", "40"),
    LieRow("probe answered with more", "bytes=0-0", 206, "bytes 0-1/100", "2"),
    LieRow("suffix with a wrong total", "bytes=-10", 206, "bytes 90-99/200", "10"),
    LieRow("suffix with a wrong start", "bytes=-10", 206, "bytes 89-99/100", "11"),
    LieRow("open with a wrong total", "bytes=10-", 206, "bytes 10-99/200", "90"),
    LieRow("end past the total", "bytes=10-19", 206, "bytes 10-19/15", "10"),
    LieRow("start after end", "bytes=10-19", 206, "bytes 19-10/100", "10"),
    LieRow("206 to no Range, partial", None, 206, "bytes 0-9/100", "10"),
    LieRow("206 of a 0-byte object", "bytes=0-", 206, "bytes 0-0/0", "1"),
    LieRow("Content-Length disagrees", "bytes=10-19", 206, "bytes 10-19/100", "11"),
    LieRow("Content-Length of the whole", "bytes=10-19", 206, "bytes 10-19/100", "100"),
    LieRow("Content-Range unknown total", "bytes=10-19", 206, "bytes 10-19/*", "10"),
    LieRow("Content-Range with =", "bytes=10-19", 206, "bytes=10-19/100", "10"),
    LieRow("Content-Range without unit", "bytes=10-19", 206, "10-19/100", "10"),
    LieRow("Content-Range without total", "bytes=10-19", 206, "bytes 10-19", "10"),
    LieRow("Content-Range other unit", "bytes=10-19", 206, "items 10-19/100", "10"),
    LieRow("Content-Range negative", "bytes=10-19", 206, "bytes -10-19/100", "10"),
    LieRow("Content-Range trailing junk", "bytes=10-19", 206, "bytes 10-19/100 x", "10"),
    LieRow("Content-Range empty", "bytes=10-19", 206, "", "10"),
    LieRow("206 with */N", "bytes=10-19", 206, "bytes */100", "10"),
    LieRow("206 without Content-Range", "bytes=10-19", 206, None, "10"),
    LieRow("200 without Content-Length", None, 200, None, None),
    LieRow("200 with an empty Content-Length", None, 200, None, ""),
    LieRow("200 with a negative Content-Length", None, 200, None, "-1"),
    LieRow("200 with a junk Content-Length", None, 200, None, "12abc"),
    # Header values are latin-1 text: U+00B2 passes str.isdigit() but int() rejects it.
    LieRow("200 with a superscript-digit Content-Length", None, 200, None, "\u00b2"),
    # Python refuses int() of more than 4300 digits.
    LieRow("200 with a 5000-digit Content-Length", None, 200, None, "9" * 5000),
    LieRow("416 without Content-Range", "bytes=200-", 416, None, None),
    LieRow("416 with a range", "bytes=200-", 416, "bytes 0-0/100", None),
    LieRow("416 with an unknown size", "bytes=200-", 416, "bytes */*", None),
    LieRow("302", "bytes=0-0", 302, None, None),
    LieRow("304", None, 304, None, None),
    LieRow("204", None, 204, None, "0"),
    LieRow("404", "bytes=0-0", 404, None, None),
    LieRow("500", "bytes=0-0", 500, None, None),
]


@pytest.mark.parametrize(("asked", "status", "content_range", "content_length"), cases(LIE_ROWS))
def test_read_upstream_answer_rejects_a_lie(asked, status, content_range, content_length):
    with pytest.raises(UpstreamMismatch):
        read_upstream_answer(spec(asked), status, content_range, content_length, ETAG)


# --------------------------------------------------------------------------- exact_range


def skip_within(body, wanted):
    """Where `wanted` starts inside `body`, or None when `body` does not hold all of it."""
    if body is None or wanted.start < body.start or wanted.end > body.end:
        return None
    return wanted.start - body.start


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [(br(0, 0), "bytes=0-0"), (br(5, 99), "bytes=5-99"), (br(7, 7), "bytes=7-7")],
    ids=["first byte", "span", "one byte"],
)
def test_exact_range(wanted, expected):
    assert exact_range(wanted).header() == expected


# --------------------------------------------------------------------------- DCS model, properties

_DCS_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def dcs(asked: str | None, size: int) -> tuple[int, str | None, str | None]:
    """(status, Content-Range, Content-Length) as the DCS contract's Range table says."""
    if not asked:
        return 200, None, str(size)
    unsatisfied = (416, f"bytes */{size}", None)
    match = _DCS_RANGE.match(asked)  # only the first range is looked at
    if match is None or size == 0 or match[0] == "bytes=-":
        return unsatisfied
    first, last = match[1], match[2]
    if not first:
        if int(last) == 0:
            return unsatisfied
        start, end = max(0, size - int(last)), size - 1
    else:
        start = int(first)
        end = size - 1 if not last else int(last)
        if start > end or end >= size:  # no clamping of the end
            return unsatisfied
    return 206, f"bytes {start}-{end}/{size}", str(end - start + 1)


def rfc(asked: str | None, size: int) -> tuple[int, str | None, str | None]:
    """What an RFC 9110 server answers to the same single-range header."""
    decision = decide_ranges(parse_range_header(asked), size)
    if decision.outcome is RangeOutcome.UNSATISFIABLE:
        return 416, f"bytes */{size}", None
    if decision.outcome is RangeOutcome.FULL:
        return 200, None, str(size)
    (only,) = decision.ranges
    return 206, only.content_range(size), str(only.length)


@pytest.mark.parametrize(
    ("asked", "size", "expected"),
    [
        (None, 10, (200, None, "10")),
        ("bytes=0-0", 10, (206, "bytes 0-0/10", "1")),
        ("bytes=2-5", 10, (206, "bytes 2-5/10", "4")),
        ("bytes=2-10", 10, (416, "bytes */10", None)),
        ("bytes=5-2", 10, (416, "bytes */10", None)),
        ("bytes=2-", 10, (206, "bytes 2-9/10", "8")),
        ("bytes=10-", 10, (416, "bytes */10", None)),
        ("bytes=-3", 10, (206, "bytes 7-9/10", "3")),
        ("bytes=-30", 10, (206, "bytes 0-9/10", "10")),
        ("bytes=-0", 10, (416, "bytes */10", None)),
        ("bytes=-", 10, (416, "bytes */10", None)),
        ("bytes=0-1,5-6", 10, (206, "bytes 0-1/10", "2")),
        ("bytes=20-30,0-1", 10, (416, "bytes */10", None)),
        ("Bytes=0-1", 10, (416, "bytes */10", None)),
        ("bytes=0-", 0, (416, "bytes */0", None)),
    ],
)
def test_dcs_model_follows_the_contract(asked, size, expected):
    """The model the properties below rely on, row by row against the contract's table."""
    assert dcs(asked, size) == expected


POSITION = st.one_of(st.integers(0, 520), st.integers(0, 10**6))


@st.composite
def members(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["closed", "closed", "open", "suffix"]))
    a = draw(POSITION)
    if kind == "open":
        return f"{a}-"
    if kind == "suffix":
        return f"-{draw(st.sampled_from([0, a, a, a]))}"
    return f"{a}-{a + draw(st.one_of(st.integers(0, 8), POSITION))}"


range_headers = st.one_of(
    members().map(lambda m: "bytes=" + m),
    st.lists(members(), min_size=2, max_size=5).map(lambda m: "bytes=" + ",".join(m)),
    st.sampled_from([None, "items=0-5", "bytes=5-1", "bytes=-"]),
)


class Scenario(NamedTuple):
    size: int
    request: ClientRequest
    known_size: int | None


@st.composite
def scenarios(draw: st.DrawFn, *, known: str, if_ranges=(None, ETAG, OLD_ETAG, 'W/"v1"', DATE)):
    size = draw(st.integers(0, 500))
    request = req(
        draw(range_headers),
        method=draw(st.sampled_from(["GET", "GET", "GET", "HEAD"])),
        if_range=draw(st.sampled_from(if_ranges)),
    )
    stale = draw(st.integers(0, 520).filter(lambda s: s != size))
    known_size = {"right": size, "none": None, "any": draw(st.sampled_from([None, size, stale]))}
    return Scenario(size, request, known_size[known])


PROPERTY = settings(max_examples=600, deadline=None)


@PROPERTY
@given(st.one_of(scenarios(known="right"), scenarios(known="none")))
def test_dcs_answers_the_upstream_range_as_rfc_9110_does(scenario):
    """No non-RFC 416 from DCS: a 416 only when the client's ranges are unsatisfiable.

    (A 0-byte object answers every Range with 416; its `bytes */0` still tells the size.)
    """
    size, request, known_size = scenario
    asked = header(choose_upstream_range(request, known_size, max_parts=MAX_PARTS))
    assert asked is None or "," not in asked  # DCS reads only the first range
    assert dcs(asked, size) == rfc(asked, size)
    if dcs(asked, size)[0] == 416 and size > 0:
        client = decide_ranges(request.range, size, max_parts=MAX_PARTS)
        assert client.outcome is RangeOutcome.UNSATISFIABLE


@PROPERTY
@given(scenarios(known="any"))
def test_every_wanted_range_is_served_from_honest_answers(scenario):
    """Whatever the known size (stale too): DCS's honest answer is accepted, and each range
    of the client's response is in the first body or comes exactly from one more request."""
    size, request, known_size = scenario
    asked = choose_upstream_range(request, known_size, max_parts=MAX_PARTS)
    answer = read_upstream_answer(asked, *dcs(header(asked), size), ETAG)
    assert answer.size == size
    response = plan_response(request, answer.size, answer.etag, max_parts=MAX_PARTS)
    for wanted in response.ranges:
        if skip_within(answer.body, wanted) is None:
            exact = exact_range(wanted)
            again = read_upstream_answer(exact, *dcs(exact.header(), size), ETAG)
            assert skip_within(again.body, wanted) == 0


COMMON = (None, ETAG)


@PROPERTY
@given(
    st.one_of(scenarios(known="right", if_ranges=COMMON), scenarios(known="none", if_ranges=COMMON))
)
def test_the_first_request_carries_the_first_range(scenario):
    """One DCS request, no bytes skipped, in the common cases: size known (or a single
    range), If-Range absent or matching."""
    size, request, known_size = scenario
    if request.method == "HEAD" or (known_size is None and len(request.range.specs) > 1):
        return
    asked = choose_upstream_range(request, known_size, max_parts=MAX_PARTS)
    answer = read_upstream_answer(asked, *dcs(header(asked), size), ETAG)
    response = plan_response(request, size, ETAG, max_parts=MAX_PARTS)
    if response.ranges:
        first = response.ranges[0]
        assert skip_within(answer.body, first) == 0
