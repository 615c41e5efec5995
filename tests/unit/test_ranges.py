"""Table-driven tests for media_proxy.ranges (RFC 9110 byte ranges and preconditions)."""

from __future__ import annotations

import email
import email.policy
import time
from typing import NamedTuple

import pytest

from media_proxy.ranges import (
    ByteRange,
    ParsedRange,
    Precondition,
    RangeHeaderKind,
    RangeOutcome,
    RangeSpec,
    decide_ranges,
    evaluate_preconditions,
    if_range_allows_partial,
    multipart_layout,
    parse_range_header,
)

HUGE = 10**19  # what the parser stores for positions with more than 19 digits
BIG = "9" * 40  # 10**40 - 1


def span(first: int, last: int | None = None) -> RangeSpec:
    return RangeSpec(first, last, None)


def suffix(n: int) -> RangeSpec:
    return RangeSpec(None, None, n)


def specs(*members: RangeSpec) -> ParsedRange:
    return ParsedRange(RangeHeaderKind.SPECS, members)


ABSENT = ParsedRange(RangeHeaderKind.ABSENT)
IGNORED = ParsedRange(RangeHeaderKind.IGNORED)
INVALID = ParsedRange(RangeHeaderKind.INVALID)


# --------------------------------------------------------------------------- parsing


class ParseRow(NamedTuple):
    id: str
    header: str | None
    expected: ParsedRange


PARSE_ROWS = [
    # absent
    ParseRow("none", None, ABSENT),
    ParseRow("empty", "", ABSENT),
    ParseRow("spaces", "   ", ABSENT),
    ParseRow("tab", "\t", ABSENT),
    # the three forms
    ParseRow("safari-probe", "bytes=0-1", specs(span(0, 1))),
    ParseRow("chrome-open", "bytes=0-", specs(span(0))),
    ParseRow("seek-open", "bytes=5-", specs(span(5))),
    ParseRow("single-byte", "bytes=5-5", specs(span(5, 5))),
    ParseRow("suffix", "bytes=-5", specs(suffix(5))),
    ParseRow("suffix-zero-parses", "bytes=-0", specs(suffix(0))),
    ParseRow("leading-zeros", "bytes=007-0010", specs(span(7, 10))),
    # unit is case-insensitive
    ParseRow("unit-Bytes", "Bytes=0-1", specs(span(0, 1))),
    ParseRow("unit-BYTES", "BYTES=0-1", specs(span(0, 1))),
    ParseRow("unit-mixed", "bYtEs=0-1", specs(span(0, 1))),
    # unknown units are ignored whatever follows
    ParseRow("unit-items", "items=0-5", IGNORED),
    ParseRow("unit-none", "none=", IGNORED),
    ParseRow("unit-garbage-set", "pages=abc", IGNORED),
    ParseRow("unit-bytesx", "bytesx=0-1", IGNORED),
    ParseRow("unit-byte", "byte=0-1", IGNORED),
    # lists: OWS around members, empty members
    ParseRow("multi", "bytes=0-1,5-6", specs(span(0, 1), span(5, 6))),
    ParseRow("multi-ows", "bytes=0-1, 5-6", specs(span(0, 1), span(5, 6))),
    ParseRow("multi-ows-tabs", "bytes= 0-1 ,\t5-6 ", specs(span(0, 1), span(5, 6))),
    ParseRow("outer-ows", "  bytes=0-1  ", specs(span(0, 1))),
    ParseRow("empty-members", "bytes=0-1,,", specs(span(0, 1))),
    ParseRow("empty-leading", "bytes=, ,0-1", specs(span(0, 1))),
    ParseRow("mixed-forms", "bytes=-5,0-,3-4", specs(suffix(5), span(0), span(3, 4))),
    ParseRow("order-kept", "bytes=5-6,0-1", specs(span(5, 6), span(0, 1))),
    ParseRow("duplicates-kept", "bytes=0-1,0-1", specs(span(0, 1), span(0, 1))),
    # huge numbers
    ParseRow("huge-first", f"bytes={BIG}-", specs(span(HUGE))),
    ParseRow("huge-last", f"bytes=0-{BIG}", specs(span(0, HUGE))),
    ParseRow("huge-suffix", f"bytes=-{BIG}", specs(suffix(HUGE))),
    ParseRow("huge-both-equal", f"bytes={BIG}-{BIG}", specs(span(HUGE, HUGE))),
    ParseRow("huge-both-ordered", f"bytes=1{'0' * 30}-2{'0' * 30}", specs(span(HUGE, HUGE))),
    ParseRow("nineteen-digits-exact", "bytes=0-9999999999999999999", specs(span(0, 10**19 - 1))),
    ParseRow("twenty-digits-capped", "bytes=0-10000000000000000000", specs(span(0, HUGE))),
    ParseRow("zero-padded-huge", f"bytes={'0' * 40}5-{'0' * 40}7", specs(span(5, 7))),
    ParseRow("beyond-int-str-limit", "bytes=" + "9" * 5000 + "-", specs(span(HUGE))),
    ParseRow("int64-max", "bytes=9223372036854775807-", specs(span(2**63 - 1))),
    # invalid byte-range sets
    ParseRow("reversed", "bytes=5-1", INVALID),
    ParseRow("reversed-huge", f"bytes=2{'0' * 40}-1{'0' * 40}", INVALID),
    ParseRow("reversed-huge-vs-small", f"bytes={BIG}-5", INVALID),
    ParseRow("letters", "bytes=abc", INVALID),
    ParseRow("three-parts", "bytes=1-2-3", INVALID),
    ParseRow("double-dash", "bytes=--5", INVALID),
    ParseRow("lone-dash", "bytes=-", INVALID),
    ParseRow("empty-set", "bytes=", INVALID),
    ParseRow("only-comma", "bytes=,", INVALID),
    ParseRow("only-commas-spaces", "bytes= , ,\t", INVALID),
    ParseRow("no-dash", "bytes=5", INVALID),
    ParseRow("negative-first", "bytes=-1-2", INVALID),
    ParseRow("plus-sign", "bytes=+1-2", INVALID),
    ParseRow("plus-last", "bytes=1-+2", INVALID),
    ParseRow("hex", "bytes=0x1-2", INVALID),
    ParseRow("underscore", "bytes=1_0-20", INVALID),
    ParseRow("decimal", "bytes=0.5-1", INVALID),
    ParseRow("arabic-digits", "bytes=\u0661-\u0662", INVALID),
    ParseRow("fullwidth-digits", "bytes=\uff10-\uff11", INVALID),
    ParseRow("space-inside", "bytes=0 -1", INVALID),
    ParseRow("space-inside-2", "bytes=0- 1", INVALID),
    ParseRow("trailing-junk", "bytes=0-1;", INVALID),
    ParseRow("one-bad-member", "bytes=0-1, x", INVALID),
    ParseRow("bad-after-good", "bytes=0-1,5-1", INVALID),
    ParseRow("newline", "bytes=0-1\r\n", INVALID),
    ParseRow("ows-before-equals", "bytes =0-1", INVALID),
    ParseRow("no-equals", "bytes", INVALID),
    ParseRow("no-equals-other-unit", "items", INVALID),
    ParseRow("empty-unit", "=0-1", INVALID),
    ParseRow("unit-with-space", "by tes=0-1", INVALID),
    ParseRow("second-equals", "bytes==0-1", INVALID),
]


@pytest.mark.parametrize("row", PARSE_ROWS, ids=[r.id for r in PARSE_ROWS])
def test_parse_range_header(row: ParseRow) -> None:
    assert parse_range_header(row.header) == row.expected


def best_time(header: str) -> tuple[float, ParsedRange]:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        parsed = parse_range_header(header)
        decide_ranges(parsed, 10**9)
        best = min(best, time.perf_counter() - started)
    return best, parsed


# Growth, not seconds (a loaded machine or coverage's tracer changes the seconds): eight
# times the members may cost at most 24 times the time. Quadratic work would cost 64.
SCALE, LINEAR_BOUND = 8, 24


def repeated_members(count: int) -> str:
    return "bytes=" + ",".join(f"{i % 10}-{i % 10 + i % 90}" for i in range(count))


def distinct_members(count: int) -> str:
    opens = count * 10 // 16
    return "bytes=" + ",".join(
        [f"{a:05d}-" for a in range(opens)] + [f"-{a:05d}" for a in range(count - opens)]
    )


def test_parse_is_linear_on_a_100kb_header() -> None:
    header = repeated_members(20_000)
    assert 95_000 < len(header) < 115_000
    elapsed, parsed = best_time(header)
    assert len(parsed.specs) == 20_000
    # All overlap inside bytes 0-98: one part on a big file, the whole file on a small one.
    assert decide_ranges(parsed, 10**9).ranges == (ByteRange(0, 98),)
    assert decide_ranges(parsed, 10_000).outcome is RangeOutcome.FULL
    small, _ = best_time(repeated_members(20_000 // SCALE))
    assert elapsed < LINEAR_BOUND * small


def test_parse_stays_linear_with_distinct_members() -> None:
    # All different: the worst case for the per-member cache.
    header = distinct_members(16_000)
    assert len(header) < 120_000
    elapsed, parsed = best_time(header)
    assert len(parsed.specs) == 16_000
    small, _ = best_time(distinct_members(16_000 // SCALE))
    assert elapsed < LINEAR_BOUND * small


# --------------------------------------------------------------------------- resolving


class ResolveRow(NamedTuple):
    id: str
    spec: RangeSpec
    size: int
    expected: ByteRange | None


RESOLVE_ROWS = [
    ResolveRow("inside", span(0, 1), 11, ByteRange(0, 1)),
    ResolveRow("last-byte", span(10, 10), 11, ByteRange(10, 10)),
    ResolveRow("clamp-last", span(5, 1000), 11, ByteRange(5, 10)),
    ResolveRow("clamp-last-at-size", span(5, 11), 11, ByteRange(5, 10)),
    ResolveRow("open", span(5), 11, ByteRange(5, 10)),
    ResolveRow("open-from-0", span(0), 11, ByteRange(0, 10)),
    ResolveRow("first-at-size", span(11), 11, None),
    ResolveRow("first-past-size", span(12, 20), 11, None),
    ResolveRow("suffix", suffix(3), 11, ByteRange(8, 10)),
    ResolveRow("suffix-equal-size", suffix(11), 11, ByteRange(0, 10)),
    ResolveRow("suffix-larger", suffix(20), 11, ByteRange(0, 10)),
    ResolveRow("suffix-zero", suffix(0), 11, None),
    ResolveRow("empty-open", span(0), 0, None),
    ResolveRow("empty-closed", span(0, 0), 0, None),
    ResolveRow("empty-suffix", suffix(5), 0, None),
    ResolveRow("one-byte-file", span(0, 5), 1, ByteRange(0, 0)),
    ResolveRow("huge-first", span(HUGE), 11, None),
    ResolveRow("huge-last", span(3, HUGE), 11, ByteRange(3, 10)),
    ResolveRow("huge-suffix", suffix(HUGE), 11, ByteRange(0, 10)),
    ResolveRow("large-file", span(2**40, 2**41), 2**41, ByteRange(2**40, 2**41 - 1)),
]


@pytest.mark.parametrize("row", RESOLVE_ROWS, ids=[r.id for r in RESOLVE_ROWS])
def test_resolve(row: ResolveRow) -> None:
    assert row.spec.resolve(row.size) == row.expected


def test_byte_range_helpers() -> None:
    r = ByteRange(0, 1)
    assert r.length == 2
    assert r.content_range(11) == "bytes 0-1/11"
    assert ByteRange(5, 10).content_range(11) == "bytes 5-10/11"


@pytest.mark.parametrize(
    ("start", "end"), [(-1, 0), (5, 4)], ids=["negative-start", "end-before-start"]
)
def test_byte_range_rejects_nonsense(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="invalid byte range"):
        ByteRange(start, end)


@pytest.mark.parametrize(
    "fields",
    [(None, None, None), (1, None, 3), (5, 4, None), (-1, None, None), (None, 3, None)],
    ids=["nothing", "first-and-suffix", "reversed", "negative", "last-only"],
)
def test_range_spec_rejects_inconsistent_fields(
    fields: tuple[int | None, int | None, int | None],
) -> None:
    with pytest.raises(ValueError, match="inconsistent range spec"):
        RangeSpec(*fields)


# --------------------------------------------------------------------------- deciding

FULL, PARTIAL, UNSATISFIABLE = RangeOutcome.FULL, RangeOutcome.PARTIAL, RangeOutcome.UNSATISFIABLE


class DecideRow(NamedTuple):
    id: str
    header: str | None
    size: int
    outcome: RangeOutcome
    ranges: tuple[tuple[int, int], ...] = ()
    max_parts: int = 16


def many(pairs: list[tuple[int, int]]) -> str:
    return "bytes=" + ",".join(f"{a}-{b}" for a, b in pairs)


EVENS = [(i * 2, i * 2) for i in range(20)]

DECIDE_ROWS = [
    DecideRow("absent", None, 11, FULL),
    DecideRow("empty", "", 11, FULL),
    DecideRow("unknown-unit", "items=0-5", 11, FULL),
    DecideRow("invalid", "bytes=5-1", 11, UNSATISFIABLE),
    DecideRow("invalid-syntax", "bytes=abc", 11, UNSATISFIABLE),
    DecideRow("safari-probe", "bytes=0-1", 11, PARTIAL, ((0, 1),)),
    DecideRow("chrome-open-whole-file-is-206", "bytes=0-", 11, PARTIAL, ((0, 10),)),
    DecideRow("chrome-seek", "bytes=7-", 11, PARTIAL, ((7, 10),)),
    DecideRow("clamp", "bytes=5-1000", 11, PARTIAL, ((5, 10),)),
    DecideRow("suffix", "bytes=-3", 11, PARTIAL, ((8, 10),)),
    DecideRow("suffix-larger-than-file", "bytes=-20", 11, PARTIAL, ((0, 10),)),
    DecideRow("suffix-zero", "bytes=-0", 11, UNSATISFIABLE),
    DecideRow("suffix-zero-with-other", "bytes=-0,0-1", 11, PARTIAL, ((0, 1),)),
    DecideRow("first-at-size", "bytes=11-", 11, UNSATISFIABLE),
    DecideRow("first-past-size", "bytes=20-30", 11, UNSATISFIABLE),
    DecideRow("last-byte", "bytes=10-", 11, PARTIAL, ((10, 10),)),
    DecideRow("unsatisfiable-member-dropped", "bytes=11-20,0-0", 11, PARTIAL, ((0, 0),)),
    DecideRow("multi", "bytes=0-1,5-6", 11, PARTIAL, ((0, 1), (5, 6))),
    DecideRow("multi-sorted", "bytes=5-6,0-1", 11, PARTIAL, ((0, 1), (5, 6))),
    DecideRow("overlap-coalesced", "bytes=0-3,2-5", 11, PARTIAL, ((0, 5),)),
    DecideRow("contained-coalesced", "bytes=0-5,1-2", 11, PARTIAL, ((0, 5),)),
    DecideRow("adjacent-coalesced", "bytes=0-1,2-3", 11, PARTIAL, ((0, 3),)),
    DecideRow("adjacent-unordered", "bytes=4-5,0-1,2-3", 11, PARTIAL, ((0, 5),)),
    DecideRow("gap-of-one-kept", "bytes=0-1,3-4", 11, PARTIAL, ((0, 1), (3, 4))),
    DecideRow("suffix-and-head", "bytes=0-1,-2", 11, PARTIAL, ((0, 1), (9, 10))),
    DecideRow("sum-equal-size-is-partial", "bytes=0-4,5-10", 11, PARTIAL, ((0, 10),)),
    DecideRow("sum-over-size", "bytes=0-5,0-5", 11, FULL),
    DecideRow("two-open", "bytes=0-,0-", 11, FULL),
    DecideRow("overlap-over-size", "bytes=0-,5-", 11, FULL),
    DecideRow("clamped-lengths-count", "bytes=0-100,10-100", 11, FULL),
    DecideRow("dos-repeated", "bytes=" + ",".join(["0-0"] * 20_000), 100, FULL),
    DecideRow("repeated-small-ok", "bytes=" + ",".join(["0-0"] * 50), 100, PARTIAL, ((0, 0),)),
    DecideRow("parts-16", many(EVENS[:16]), 100, PARTIAL, tuple(EVENS[:16])),
    DecideRow("parts-17", many(EVENS[:17]), 100, FULL),
    DecideRow("max-parts-2", "bytes=0-0,2-2,4-4", 11, FULL, max_parts=2),
    DecideRow("max-parts-after-coalesce", "bytes=0-0,1-1,2-2", 11, PARTIAL, ((0, 2),), max_parts=1),
    DecideRow("max-parts-0", "bytes=0-0", 11, FULL, max_parts=0),
    DecideRow("empty-file-open", "bytes=0-", 0, UNSATISFIABLE),
    DecideRow("empty-file-suffix", "bytes=-5", 0, UNSATISFIABLE),
    DecideRow("empty-file-unknown-unit", "items=0-5", 0, FULL),
    DecideRow("empty-file-absent", None, 0, FULL),
    DecideRow("huge-last", f"bytes=0-{BIG}", 11, PARTIAL, ((0, 10),)),
    DecideRow("huge-first", f"bytes={BIG}-", 11, UNSATISFIABLE),
    DecideRow("huge-suffix", f"bytes=-{BIG}", 11, PARTIAL, ((0, 10),)),
    DecideRow("whitespace-and-case", " BYTES=0-1 ,\t3-4 ", 11, PARTIAL, ((0, 1), (3, 4))),
    DecideRow("empty-members", "bytes=,0-1,,", 11, PARTIAL, ((0, 1),)),
    DecideRow("dcs-probe", "bytes=0-0", 782836, PARTIAL, ((0, 0),)),
    DecideRow("aria2-split", "bytes=0-99,100-199", 1000, PARTIAL, ((0, 199),)),
]


@pytest.mark.parametrize("row", DECIDE_ROWS, ids=[r.id for r in DECIDE_ROWS])
def test_decide_ranges(row: DecideRow) -> None:
    decision = decide_ranges(parse_range_header(row.header), row.size, max_parts=row.max_parts)
    assert decision.outcome is row.outcome
    assert decision.ranges == tuple(ByteRange(a, b) for a, b in row.ranges)


def test_decide_specs_without_members_is_unsatisfiable() -> None:
    assert decide_ranges(specs(), 11).outcome is UNSATISFIABLE


# --------------------------------------------------------------------------- preconditions

ETAG = '"abc"'
DATE = "Sat, 01 Jan 2000 00:00:00 GMT"
FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"
PROCEED = Precondition.PROCEED
NOT_MODIFIED = Precondition.NOT_MODIFIED
FAILED = Precondition.PRECONDITION_FAILED


class PreRow(NamedTuple):
    id: str
    expected: Precondition
    if_match: str | None = None
    if_none_match: str | None = None
    if_unmodified_since: str | None = None
    if_modified_since: str | None = None
    method: str = "GET"
    etag: str | None = ETAG


PRE_ROWS = [
    PreRow("no-headers", PROCEED),
    PreRow("no-headers-no-etag", PROCEED, etag=None),
    # If-Match: strong comparison
    PreRow("im-equal", PROCEED, if_match='"abc"'),
    PreRow("im-different", FAILED, if_match='"xyz"'),
    PreRow("im-weak-never-matches", FAILED, if_match='W/"abc"'),
    PreRow("im-weak-etag-never-matches", FAILED, if_match='"abc"', etag='W/"abc"'),
    PreRow("im-list", PROCEED, if_match='"x", "abc"'),
    PreRow("im-list-no-spaces", PROCEED, if_match='"x","abc"'),
    PreRow("im-list-empty-members", PROCEED, if_match=', "abc",,'),
    PreRow("im-list-miss", FAILED, if_match='"x", "y"'),
    PreRow("im-star", PROCEED, if_match="*"),
    PreRow("im-star-ows", PROCEED, if_match=" * "),
    PreRow("im-star-unknown-etag", PROCEED, if_match="*", etag=None),
    PreRow("im-unknown-etag", FAILED, if_match='"abc"', etag=None),
    PreRow("im-unquoted", FAILED, if_match="abc"),
    PreRow("im-malformed-member", FAILED, if_match='"abc", junk'),
    PreRow("im-lowercase-weak-prefix", FAILED, if_match='w/"abc"'),
    PreRow("im-star-in-list", FAILED, if_match='*, "abc"'),
    PreRow("im-only-comma", FAILED, if_match=","),
    PreRow("im-empty-is-absent", PROCEED, if_match=""),
    PreRow("im-comma-inside-tag", PROCEED, if_match='"x", "a,b"', etag='"a,b"'),
    PreRow("im-post", PROCEED, if_match='"abc"', method="POST"),
    PreRow("im-fail-put", FAILED, if_match='"xyz"', method="PUT"),
    # If-None-Match: weak comparison
    PreRow("inm-equal-get", NOT_MODIFIED, if_none_match='"abc"'),
    PreRow("inm-equal-head", NOT_MODIFIED, if_none_match='"abc"', method="HEAD"),
    PreRow("inm-equal-post", FAILED, if_none_match='"abc"', method="POST"),
    PreRow("inm-equal-delete", FAILED, if_none_match='"abc"', method="DELETE"),
    PreRow("inm-weak-matches", NOT_MODIFIED, if_none_match='W/"abc"'),
    PreRow("inm-weak-etag", NOT_MODIFIED, if_none_match='"abc"', etag='W/"abc"'),
    PreRow("inm-different", PROCEED, if_none_match='"xyz"'),
    PreRow("inm-list", NOT_MODIFIED, if_none_match='"x", W/"abc"'),
    PreRow("inm-list-miss", PROCEED, if_none_match='"x", W/"y"'),
    PreRow("inm-star", NOT_MODIFIED, if_none_match="*"),
    PreRow("inm-star-unknown-etag", NOT_MODIFIED, if_none_match="*", etag=None),
    PreRow("inm-star-put", FAILED, if_none_match="*", method="PUT"),
    PreRow("inm-unknown-etag", PROCEED, if_none_match='"abc"', etag=None),
    PreRow("inm-unquoted", PROCEED, if_none_match="abc"),
    PreRow("inm-malformed-member", PROCEED, if_none_match='"abc", junk'),
    PreRow("inm-space-after-W", PROCEED, if_none_match='W/ "abc"'),
    PreRow("inm-lowercase-weak-prefix", PROCEED, if_none_match='w/"abc"'),
    PreRow("inm-unterminated", PROCEED, if_none_match='"abc'),
    PreRow("inm-empty-is-absent", PROCEED, if_none_match="  "),
    PreRow("inm-prefix-is-not-equal", PROCEED, if_none_match='"ab"'),
    PreRow("inm-comma-inside-tag", NOT_MODIFIED, if_none_match='"a,b"', etag='"a,b"'),
    PreRow("inm-method-case-sensitive", FAILED, if_none_match='"abc"', method="get"),
    # order: If-Match first, then If-None-Match
    PreRow("im-fails-before-inm", FAILED, if_match='"xyz"', if_none_match='"abc"'),
    PreRow("im-passes-then-inm-304", NOT_MODIFIED, if_match='"abc"', if_none_match='"abc"'),
    PreRow("im-passes-inm-misses", PROCEED, if_match='"abc"', if_none_match='"xyz"'),
    # dates: no Last-Modified, so they never change the outcome
    PreRow("ius-old-date-ignored", PROCEED, if_unmodified_since=DATE),
    PreRow("ius-garbage-ignored", PROCEED, if_unmodified_since="yesterday"),
    PreRow("ims-future-ignored", PROCEED, if_modified_since=FUTURE),
    PreRow("ims-with-inm-miss", PROCEED, if_none_match='"xyz"', if_modified_since=FUTURE),
    PreRow("ims-with-inm-hit", NOT_MODIFIED, if_none_match='"abc"', if_modified_since=DATE),
    PreRow("ius-does-not-rescue-im", FAILED, if_match='"xyz"', if_unmodified_since=FUTURE),
    PreRow(
        "everything",
        NOT_MODIFIED,
        if_match='"abc"',
        if_none_match='W/"abc"',
        if_unmodified_since=DATE,
        if_modified_since=FUTURE,
        method="HEAD",
    ),
]


@pytest.mark.parametrize("row", PRE_ROWS, ids=[r.id for r in PRE_ROWS])
def test_evaluate_preconditions(row: PreRow) -> None:
    result = evaluate_preconditions(
        row.method,
        row.etag,
        if_match=row.if_match,
        if_none_match=row.if_none_match,
        if_unmodified_since=row.if_unmodified_since,
        if_modified_since=row.if_modified_since,
    )
    assert result is row.expected


class IfRangeRow(NamedTuple):
    id: str
    if_range: str | None
    expected: bool
    etag: str | None = ETAG


IF_RANGE_ROWS = [
    IfRangeRow("absent", None, True),
    IfRangeRow("empty-is-absent", "", True),
    IfRangeRow("absent-no-etag", None, True, etag=None),
    IfRangeRow("strong-equal", '"abc"', True),
    IfRangeRow("strong-equal-ows", ' "abc"\t', True),
    IfRangeRow("strong-different", '"abd"', False),
    IfRangeRow("weak-tag", 'W/"abc"', False),
    IfRangeRow("weak-etag", 'W/"abc"', False, etag='W/"abc"'),
    IfRangeRow("unknown-etag", '"abc"', False, etag=None),
    IfRangeRow("http-date", DATE, False),
    IfRangeRow("http-date-unknown-etag", DATE, False, etag=None),
    IfRangeRow("unquoted", "abc", False),
    IfRangeRow("unterminated", '"abc', False),
    IfRangeRow("list-not-allowed", '"abc", "abc"', False),
    IfRangeRow("star-not-allowed", "*", False),
    IfRangeRow("case-matters", '"ABC"', False),
]


@pytest.mark.parametrize("row", IF_RANGE_ROWS, ids=[r.id for r in IF_RANGE_ROWS])
def test_if_range_allows_partial(row: IfRangeRow) -> None:
    assert if_range_allows_partial(row.if_range, row.etag) is row.expected


# --------------------------------------------------------------------------- multipart

DATA = b"0123456789A"  # 11 bytes


def render(layout_ranges: list[ByteRange], data: bytes, content_type: str, boundary: str) -> bytes:
    layout = multipart_layout(layout_ranges, len(data), content_type, boundary)
    body = b"".join(p.header + data[p.range.start : p.range.end + 1] for p in layout.parts)
    return body + layout.closing


def test_multipart_layout_exact_bytes() -> None:
    ranges = [ByteRange(0, 1), ByteRange(5, 6)]
    layout = multipart_layout(ranges, 11, "text/plain", "B0UND")
    assert layout.boundary == "B0UND"
    assert layout.content_type == "multipart/byteranges; boundary=B0UND"
    assert [p.range for p in layout.parts] == ranges
    assert layout.parts[0].header == (
        b"--B0UND\r\nContent-Range: bytes 0-1/11\r\nContent-Type: text/plain\r\n\r\n"
    )
    assert layout.parts[1].header == (
        b"\r\n--B0UND\r\nContent-Range: bytes 5-6/11\r\nContent-Type: text/plain\r\n\r\n"
    )
    assert layout.closing == b"\r\n--B0UND--\r\n"
    body = render(ranges, DATA, "text/plain", "B0UND")
    assert body == (
        b"--B0UND\r\n"
        b"Content-Range: bytes 0-1/11\r\n"
        b"Content-Type: text/plain\r\n"
        b"\r\n"
        b"01"
        b"\r\n--B0UND\r\n"
        b"Content-Range: bytes 5-6/11\r\n"
        b"Content-Type: text/plain\r\n"
        b"\r\n"
        b"56"
        b"\r\n--B0UND--\r\n"
    )
    assert layout.content_length == len(body) == 151


def test_multipart_body_parses_with_the_email_package() -> None:
    data = bytes(range(32, 127)) * 3  # 285 printable bytes
    ranges = [ByteRange(0, 9), ByteRange(100, 100), ByteRange(250, 284)]
    boundary = "3d6b6a416f9b5e2f"
    layout = multipart_layout(ranges, len(data), "audio/mpeg", boundary)
    body = render(ranges, data, "audio/mpeg", boundary)
    assert layout.content_length == len(body)

    message = email.message_from_bytes(
        f"Content-Type: {layout.content_type}\r\n\r\n".encode() + body, policy=email.policy.HTTP
    )
    assert message.is_multipart()
    assert not message.defects
    parts = list(message.iter_parts())
    assert len(parts) == len(ranges)
    for part, r in zip(parts, ranges, strict=True):
        assert part.get_content_type() == "audio/mpeg"
        assert part["Content-Range"] == r.content_range(len(data))
        assert part.get_payload(decode=True) == data[r.start : r.end + 1]


def test_multipart_single_range_and_long_boundary() -> None:
    boundary = "b" * 70  # RFC 2046 maximum
    layout = multipart_layout([ByteRange(0, 10)], 11, "video/mp4", boundary)
    body = render([ByteRange(0, 10)], DATA, "video/mp4", boundary)
    assert body.startswith(f"--{boundary}\r\n".encode())
    assert body.endswith(DATA + f"\r\n--{boundary}--\r\n".encode())
    assert layout.content_length == len(body)


@pytest.mark.parametrize(
    ("ranges", "size", "content_type", "boundary"),
    [
        ([], 11, "text/plain", "B"),
        ([ByteRange(0, 11)], 11, "text/plain", "B"),
        ([ByteRange(0, 1)], 11, "text/plain", ""),
        ([ByteRange(0, 1)], 11, "text/plain", "b" * 71),
        ([ByteRange(0, 1)], 11, "text/plain", "ends-in-space "),
        ([ByteRange(0, 1)], 11, "text/plain", "bad\r\nboundary"),
        ([ByteRange(0, 1)], 11, "text/plain", 'quote"'),
        ([ByteRange(0, 1)], 11, "text/plain\r\nX-Evil: 1", "B"),
    ],
    ids=[
        "no-ranges",
        "range-past-size",
        "empty-boundary",
        "boundary-too-long",
        "boundary-trailing-space",
        "boundary-crlf",
        "boundary-quote",
        "content-type-crlf",
    ],
)
def test_multipart_layout_rejects_bad_input(
    ranges: list[ByteRange], size: int, content_type: str, boundary: str
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - several distinct messages
        multipart_layout(ranges, size, content_type, boundary)
