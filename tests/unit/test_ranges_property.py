"""Property tests: media_proxy.ranges against a reference model built on sets of byte indices.

Headers are generated from a structure (a unit, a list of members that are each
known to be valid or not), so the model never parses a string: it computes the
expected outcome straight from the structure and from RFC 9110 14.1-14.2.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from hypothesis import example, given, settings
from hypothesis import strategies as st

from media_proxy.ranges import (
    ByteRange,
    Precondition,
    RangeHeaderKind,
    RangeOutcome,
    decide_ranges,
    evaluate_preconditions,
    if_range_allows_partial,
    multipart_layout,
    parse_range_header,
)

SETTINGS = settings(max_examples=2000, deadline=None)
QUICK = settings(max_examples=500, deadline=None)

# --------------------------------------------------------------------------- generated headers


@dataclass(frozen=True)
class Member:
    text: str
    valid: bool
    kind: str  # "empty", "int", "open", "suffix", "bad"
    a: int = 0
    b: int = 0

    def indices(self, size: int) -> set[int]:
        """The byte indices this (valid) member selects: RFC 9110 14.1.1-14.1.2, literally."""
        if self.kind == "int":
            return {i for i in range(min(self.a, size), size) if i <= self.b}
        if self.kind == "open":
            return set(range(min(self.a, size), size))
        if self.kind == "suffix":
            return set(range(max(size - self.a, 0), size)) if self.a > 0 else set()
        return set()


small = st.integers(0, 320)
positions = st.one_of(
    small,
    st.integers(0, 10**40),
    st.sampled_from([10**19 - 1, 10**19, 10**19 + 1, 2**63, 2**64]),
)
# Mostly short ranges, so that several of them fit in a file without adding up to more.
lengths = st.one_of(st.integers(0, 6), st.integers(0, 6), positions)
ows = st.sampled_from(["", "", "", " ", "\t", " \t "])
zeros = st.sampled_from(["", "", "", "", "0", "00", "0" * 25])
BAD = [
    "-", "--5", "1-2-3", "abc", "5", "+1-2", "1-+2", "0x1-2", "1_0-2", "0.5-1", "0 -1", "0- 1",
    "\u0661-\u0662", "\uff10-", "-1-2", "1--", "=", "bytes=0-1", "0-1;", "- 5", "*",
]  # fmt: skip


KINDS = {
    # many short ranges: multipart answers, coalescing, max_parts
    "short": ["int"] * 8 + ["suffix", "empty"],
    "mixed": ["int"] * 4 + ["open", "suffix", "empty"],
    "bad": ["int"] * 4 + ["open", "suffix", "empty"] + ["bad", "rev"] * 2,
}


@st.composite
def members(draw: st.DrawFn, *, mode: str) -> Member:
    kind = draw(st.sampled_from(KINDS[mode]))
    before, after = draw(ows), draw(ows)
    if kind == "empty":
        return Member(before + after, valid=True, kind="empty")
    if kind == "bad":
        return Member(before + draw(st.sampled_from(BAD)) + after, valid=False, kind="bad")
    a = draw(small if mode == "short" else positions)
    if kind == "open":
        return Member(f"{before}{draw(zeros)}{a}-{after}", valid=True, kind="open", a=a)
    if kind == "suffix":
        return Member(f"{before}-{draw(zeros)}{a}{after}", valid=True, kind="suffix", a=a)
    b = a + draw(st.integers(0, 6) if mode == "short" else lengths)
    if kind == "rev":
        a, b = b + 1, a  # first-pos > last-pos: invalid
    text = f"{before}{draw(zeros)}{a}-{draw(zeros)}{b}{after}"
    return Member(text, valid=kind == "int", kind="int", a=a, b=b)


@dataclass(frozen=True)
class Header:
    text: str | None
    unit: str  # "absent", "bytes", "other", "broken"
    members: tuple[Member, ...]


@st.composite
def headers(draw: st.DrawFn) -> Header:
    unit_kind = draw(st.sampled_from(["bytes"] * 8 + ["other", "broken", "absent"]))
    if unit_kind == "absent":
        return Header(draw(st.sampled_from([None, "", " ", "\t "])), "absent", ())
    mode = draw(st.sampled_from(["short", "short", "mixed", "bad"]))
    member_list = tuple(draw(st.lists(members(mode=mode), min_size=0, max_size=12)))
    range_set = ",".join(m.text for m in member_list)
    outer = draw(ows), draw(ows)
    unit = {
        "bytes": st.sampled_from(["bytes", "Bytes", "BYTES", "bYtEs"]),
        "other": st.sampled_from(["items", "none", "byte", "bytesx", "x", "seconds"]),
        "broken": st.sampled_from(["bytes ", "by tes", "", "bytes\t", "b\u00fctes"]),
    }[unit_kind]
    return Header(f"{outer[0]}{draw(unit)}={range_set}{outer[1]}", unit_kind, member_list)


def model_kind(header: Header) -> RangeHeaderKind:
    real = [m for m in header.members if m.kind != "empty"]
    return {
        "absent": RangeHeaderKind.ABSENT,
        "other": RangeHeaderKind.IGNORED,
        "broken": RangeHeaderKind.INVALID,
        "bytes": RangeHeaderKind.SPECS
        if real and all(m.valid for m in real)
        else RangeHeaderKind.INVALID,
    }[header.unit]


def model(header: Header, size: int, max_parts: int) -> tuple[RangeOutcome, set[int]]:
    if header.unit in ("absent", "other"):
        return RangeOutcome.FULL, set()
    if header.unit == "broken":
        return RangeOutcome.UNSATISFIABLE, set()
    real = [m for m in header.members if m.kind != "empty"]
    if not real or not all(m.valid for m in real):
        return RangeOutcome.UNSATISFIABLE, set()
    selections = [s for s in (m.indices(size) for m in real) if s]
    if not selections:
        return RangeOutcome.UNSATISFIABLE, set()
    if sum(len(s) for s in selections) > size:
        return RangeOutcome.FULL, set()
    covered = set().union(*selections)
    runs = sum(1 for i in covered if i - 1 not in covered)
    if runs > max_parts:
        return RangeOutcome.FULL, set()
    return RangeOutcome.PARTIAL, covered


def covered_by(ranges: tuple[ByteRange, ...]) -> set[int]:
    return {i for r in ranges for i in range(r.start, r.end + 1)}


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(
    header=headers(),
    size=st.integers(0, 300),
    max_parts=st.one_of(st.integers(1, 4), st.just(16), st.integers(0, 20)),
)
@example(
    header=Header("bytes=-0", "bytes", (Member("-0", True, "suffix", 0),)), size=11, max_parts=16
)
def test_decide_ranges_agrees_with_the_model(header: Header, size: int, max_parts: int) -> None:
    parsed = parse_range_header(header.text)
    assert parsed.kind is model_kind(header)
    if parsed.kind is RangeHeaderKind.SPECS:
        assert len(parsed.specs) == sum(1 for m in header.members if m.kind != "empty")

    decision = decide_ranges(parsed, size, max_parts=max_parts)
    outcome, covered = model(header, size, max_parts)

    assert decision.outcome is outcome, (header.text, size)
    if outcome is not RangeOutcome.PARTIAL:
        assert decision.ranges == ()
        return
    ranges = decision.ranges
    assert 1 <= len(ranges) <= max_parts
    assert all(0 <= r.start <= r.end < size for r in ranges)
    # sorted, disjoint and not adjacent: coalescing is complete
    assert all(x.end + 1 < y.start for x, y in pairwise(ranges))
    assert covered_by(ranges) == covered


@QUICK
@given(text=st.one_of(st.text(), st.text(alphabet="bytesBYTES=0123456789-, \t+x\u0661")))
def test_nothing_raises_on_arbitrary_text(text: str) -> None:
    parsed = parse_range_header(text)
    for size in (0, 1, 11, 10**12):
        decision = decide_ranges(parsed, size)
        for r in decision.ranges:
            assert 0 <= r.start <= r.end < size
    assert parse_range_header("bytes=" + text).kind in (
        RangeHeaderKind.SPECS,
        RangeHeaderKind.INVALID,
    )


@st.composite
def disjoint_ranges(draw: st.DrawFn, size: int) -> list[ByteRange]:
    """Sorted, disjoint, non-adjacent ranges inside ``size`` bytes, as decide_ranges makes."""
    points = sorted(draw(st.sets(st.integers(0, size - 1), min_size=1, max_size=12)))
    ranges: list[ByteRange] = []
    for i in range(0, len(points), 2):
        start, end = points[i], points[min(i + 1, len(points) - 1)]
        if not ranges or start > ranges[-1].end + 1:  # skip one that would touch the last
            ranges.append(ByteRange(start, end))
    return ranges


@QUICK
@given(
    data=st.binary(min_size=1, max_size=300),
    choice=st.data(),
    boundary=st.text(alphabet="0123456789abcdefXYZ-_", min_size=1, max_size=70),
)
def test_multipart_body_round_trips(data: bytes, choice: st.DataObject, boundary: str) -> None:
    ranges = choice.draw(disjoint_ranges(len(data)))
    layout = multipart_layout(ranges, len(data), "application/octet-stream", boundary)
    body = b"".join(p.header + data[p.range.start : p.range.end + 1] for p in layout.parts)
    body += layout.closing
    assert len(body) == layout.content_length

    # Parse it back by hand: RFC 2046 5.1.1 framing with the Content-Range of each part.
    delimiter = f"--{boundary}".encode()
    assert body.startswith(delimiter + b"\r\n")
    assert body.endswith(b"\r\n" + delimiter + b"--\r\n")
    rest = body[len(delimiter) + 2 :]
    for part in layout.parts:
        head, _, rest = rest.partition(b"\r\n\r\n")
        fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        assert fields["Content-Range"] == part.range.content_range(len(data))
        assert fields["Content-Type"] == "application/octet-stream"
        payload, rest = rest[: part.range.length], rest[part.range.length :]
        assert payload == data[part.range.start : part.range.end + 1]
        assert rest.startswith(b"\r\n" + delimiter)
        rest = rest[len(delimiter) + 2 :]
        if rest == b"--\r\n":
            break
        assert rest.startswith(b"\r\n")
        rest = rest[2:]
    assert rest == b"--\r\n"


# --------------------------------------------------------------------------- entity-tags

# RFC 9110 8.8.3 etagc, commas and obs-text included
opaque = st.text(alphabet="abc,!#~\x80\xff", min_size=0, max_size=3)


@st.composite
def entity_tags(draw: st.DrawFn) -> str:
    return ("W/" if draw(st.booleans()) else "") + f'"{draw(opaque)}"'


@QUICK
@given(
    etag=st.one_of(st.none(), entity_tags()),
    listed=st.lists(entity_tags(), min_size=1, max_size=4),
    separator=st.sampled_from([",", ", ", " ,\t", ",,"]),
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT"]),
)
def test_etag_comparisons_agree_with_rfc_9110(
    etag: str | None, listed: list[str], separator: str, method: str
) -> None:
    field = separator.join(listed)

    def strong(t: str) -> bool:
        return not t.startswith("W/")

    def opaque_of(t: str) -> str:
        return t.removeprefix("W/")

    strong_hit = etag is not None and any(strong(t) and strong(etag) and t == etag for t in listed)
    weak_hit = etag is not None and any(opaque_of(t) == opaque_of(etag) for t in listed)

    def pre(if_match: str | None = None, if_none_match: str | None = None) -> Precondition:
        return evaluate_preconditions(
            method,
            etag,
            if_match=if_match,
            if_none_match=if_none_match,
            if_unmodified_since=None,
            if_modified_since=None,
        )

    assert pre(if_match=field) is (
        Precondition.PROCEED if strong_hit else Precondition.PRECONDITION_FAILED
    )
    if not weak_hit:
        assert pre(if_none_match=field) is Precondition.PROCEED
    elif method in ("GET", "HEAD"):
        assert pre(if_none_match=field) is Precondition.NOT_MODIFIED
    else:
        assert pre(if_none_match=field) is Precondition.PRECONDITION_FAILED
    for tag in listed:
        expected = etag is not None and strong(tag) and strong(etag) and tag == etag
        assert if_range_allows_partial(tag, etag) is expected
