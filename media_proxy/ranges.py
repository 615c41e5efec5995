"""HTTP byte ranges and conditional requests (RFC 9110 sections 13 and 14), as pure functions.

Nothing here touches a request, a response, settings or I/O: every function takes
plain strings and integers and returns plain data, so the view and the streaming
code decide *what* to send here and only do the sending themselves. The shape
follows Go's ``net/http/fs.go`` (``parseRange``, ``sumRangesSize``,
``checkPreconditions``, the multipart writer).

Why this is hand-written rather than Django's:

- ``django.utils.cache.get_conditional_response`` needs request and response
  objects, knows nothing about If-Range, and compares Last-Modified dates that
  the upstream (DCS) never sends.
- ``django.views.static`` has no Range support at all.
- ``django.utils.http.parse_etags`` is not reused: it silently drops malformed
  members (``"a", junk`` is read as ``"a"``) and splits on every comma, even
  one inside a quoted entity-tag (``"a,b"`` is a valid tag per RFC 9110 8.8.3).
  The strict list parser below treats a malformed field as "no tag matches",
  which is the safe reading for both If-Match (412) and If-None-Match (200).

Conventions:

- ``size`` is the representation's length in bytes, ``0 <= size < 10**19``
  (object-store objects are at most a few TiB).
- ``etag`` is the ETag field value exactly as the upstream sends it, quotes
  included (``'"abc"'``), or None when unknown. The representation is assumed
  to exist whenever these functions are asked about it.
- The representation has no Last-Modified date (DCS sends none), so the
  date-based preconditions can never be evaluated (see ``evaluate_preconditions``).
- Range-header decisions: an unknown range unit is ignored (200, RFC 9110 14.2:
  MUST ignore); a syntactically invalid ``bytes`` range set is INVALID, which
  this project answers with 416 (14.2 allows ignoring or rejecting).
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ByteRange",
    "MultipartLayout",
    "MultipartPart",
    "ParsedRange",
    "Precondition",
    "RangeDecision",
    "RangeHeaderKind",
    "RangeOutcome",
    "RangeSpec",
    "decide_ranges",
    "evaluate_preconditions",
    "if_range_allows_partial",
    "multipart_layout",
    "parse_range_header",
]

# Positions with more significant digits than this are replaced by _HUGE: they are
# past the end of any real representation, so a huge first-pos is unsatisfiable, a
# huge last-pos clamps to the end and a huge suffix means "everything". This keeps
# int() away from Python's 4300-digit limit and from quadratic conversions.
_MAX_DIGITS = 19
_HUGE = 10**_MAX_DIGITS

_OWS = " \t"
# RFC 9110 14.1.1: int-range = first-pos "-" [ last-pos ]; suffix-range = "-" suffix-length.
# [0-9], not \d: \d also matches non-ASCII digits, which int() would happily accept.
_RANGE_SPEC = re.compile(r"([0-9]+)-([0-9]*)|-([0-9]+)")
# RFC 9110 5.6.2: token = 1*tchar.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# RFC 9110 8.8.3: entity-tag = [ weak ] opaque-tag; etagc = %x21 / %x23-7E / obs-text.
_ETAG_RE = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
_ETAG = re.compile(_ETAG_RE)
# A comma-separated list of entity-tags, empty elements allowed (RFC 9110 5.6.1).
_ETAG_LIST = re.compile(rf"[ \t]*(?:{_ETAG_RE}[ \t]*)?(?:,[ \t]*(?:{_ETAG_RE}[ \t]*)?)*")
# RFC 2046 5.1.1: boundary := 0*69<bchars> bcharsnospace.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")


# --------------------------------------------------------------------------- ranges


@dataclass(frozen=True)
class ByteRange:
    """A satisfiable range resolved against a size; both ends inclusive."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"invalid byte range {self.start}-{self.end}")

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        """The Content-Range field value of a 206, e.g. ``"bytes 0-1/11"``."""
        return f"bytes {self.start}-{self.end}/{size}"


@dataclass(frozen=True)
class RangeSpec:
    """One member of a Range header's byte-range set, not yet resolved against a size.

    ``first``/``last`` for ``first-last`` and ``first-`` (``last`` None);
    ``suffix_length`` alone for ``-n``. Values past 10**19 are stored as 10**19.
    """

    first: int | None
    last: int | None
    suffix_length: int | None

    def __post_init__(self) -> None:
        if self.suffix_length is not None:
            ok = self.first is None and self.last is None and self.suffix_length >= 0
        else:
            ok = (
                self.first is not None
                and self.first >= 0
                and (self.last is None or self.last >= self.first)
            )
        if not ok:
            raise ValueError(f"inconsistent range spec {self!r}")

    def header(self) -> str:
        """This member alone as a Range field value, e.g. ``bytes=10-``."""
        if self.suffix_length is not None:
            return f"bytes=-{self.suffix_length}"
        return f"bytes={self.first}-{'' if self.last is None else self.last}"

    def resolve(self, size: int) -> ByteRange | None:
        """The bytes this member selects in a representation of ``size`` bytes.

        None when it is unsatisfiable for that size (RFC 9110 14.1.1, 14.1.2).
        """
        bounds = self._bounds(size)
        return None if bounds is None else ByteRange(*bounds)

    def _bounds(self, size: int) -> tuple[int, int] | None:
        if size <= 0:
            return None
        if self.suffix_length is not None:
            if self.suffix_length == 0:
                return None
            # A suffix longer than the representation selects all of it.
            return max(size - self.suffix_length, 0), size - 1
        assert self.first is not None
        if self.first >= size:
            return None
        # A missing last-pos, or one at or past the end, means "to the end".
        if self.last is None or self.last >= size:
            return self.first, size - 1
        return self.first, self.last


class RangeHeaderKind(enum.Enum):
    ABSENT = "absent"  # no Range header, or an empty one
    IGNORED = "ignored"  # a range unit other than "bytes": serve the whole body
    INVALID = "invalid"  # a "bytes" range that does not follow the grammar
    SPECS = "specs"  # a syntactically valid byte-range set


@dataclass(frozen=True)
class ParsedRange:
    kind: RangeHeaderKind
    specs: tuple[RangeSpec, ...] = ()


_ABSENT = ParsedRange(RangeHeaderKind.ABSENT)
_IGNORED = ParsedRange(RangeHeaderKind.IGNORED)
_INVALID = ParsedRange(RangeHeaderKind.INVALID)


def _position(digits: str) -> int:
    if len(digits) > _MAX_DIGITS:
        digits = digits.lstrip("0")
        if len(digits) > _MAX_DIGITS:
            return _HUGE
    return int(digits) if digits else 0


def _greater(a: str, b: str) -> bool:
    """Whether decimal digit string ``a`` denotes a larger number than ``b`` (any length)."""
    a, b = a.lstrip("0"), b.lstrip("0")
    return (len(a), a) > (len(b), b)


def parse_range_header(value: str | None) -> ParsedRange:
    """Parse a Range field value (RFC 9110 14.2). Never raises.

    - None, empty or whitespace-only: ABSENT.
    - ``unit=...`` with a unit other than ``bytes`` (compared case-insensitively):
      IGNORED, whatever follows the ``=``.
    - No ``=``, a unit that is not a token (``bytes =0-1``), or a byte-range set
      that breaks the grammar (``bytes=5-1``, ``bytes=1-2-3``, ``bytes=-``,
      ``bytes=``, ``bytes=,``, ``bytes=0 -1``, signs, non-ASCII digits): INVALID.
    - Otherwise SPECS, one RangeSpec per non-empty member, in header order.
      Empty list members (``bytes=0-1,,``) are skipped (RFC 9110 5.6.1); optional
      whitespace around members is allowed, inside a member it is not.

    Positions with more than 19 significant digits are stored as 10**19 (past the
    end of anything we serve): no overflow, no int() of a 100 KB digit string.

    There is no cap on the number of members: ``decide_ranges`` is what refuses
    abusive sets. The work is linear in the header's length and is done once per
    distinct member text (repeats cost a dict lookup); a 100 KB header of 20,000
    members parses in a few milliseconds. The HTTP server bounds field sizes anyway
    (gunicorn: 8190 bytes).
    """
    if value is None:
        return _ABSENT
    value = value.strip(_OWS)
    if not value:
        return _ABSENT
    unit, sep, range_set = value.partition("=")
    if not sep or not _TOKEN.fullmatch(unit):
        return _INVALID
    if unit.lower() != "bytes":
        return _IGNORED

    specs: list[RangeSpec] = []
    seen: dict[str, RangeSpec] = {}  # shared objects: decide_ranges resolves each once too
    for member in range_set.split(","):
        spec = seen.get(member)
        if spec is None:
            text = member.strip(_OWS)
            if not text:
                continue
            spec = _parse_member(text)
            if spec is None:
                return _INVALID
            seen[member] = spec
        specs.append(spec)
    if not specs:
        return _INVALID
    return ParsedRange(RangeHeaderKind.SPECS, tuple(specs))


def _parse_member(text: str) -> RangeSpec | None:
    m = _RANGE_SPEC.fullmatch(text)
    if m is None:
        return None
    first, last, suffix = m.groups()
    if suffix is not None:
        return RangeSpec(None, None, _position(suffix))
    if not last:
        return RangeSpec(_position(first), None, None)
    # RFC 9110 14.1.1: last-pos < first-pos is invalid.
    if len(first) > _MAX_DIGITS or len(last) > _MAX_DIGITS:
        if _greater(first, last):
            return None
    elif int(first) > int(last):
        return None
    return RangeSpec(_position(first), _position(last), None)


class RangeOutcome(enum.Enum):
    FULL = "full"  # 200 with the whole representation
    PARTIAL = "partial"  # 206: one range single-part, several multipart/byteranges
    UNSATISFIABLE = "unsatisfiable"  # 416 with Content-Range: bytes */size


@dataclass(frozen=True)
class RangeDecision:
    outcome: RangeOutcome
    ranges: tuple[ByteRange, ...] = ()  # PARTIAL only: sorted, disjoint, non-adjacent


_FULL = RangeDecision(RangeOutcome.FULL)
_UNSATISFIABLE = RangeDecision(RangeOutcome.UNSATISFIABLE)


def decide_ranges(parsed: ParsedRange, size: int, *, max_parts: int = 16) -> RangeDecision:
    """What to answer to a GET with this Range header for a representation of ``size`` bytes.

    Preconditions and If-Range are the caller's business and come first.

    - ABSENT / IGNORED: FULL. INVALID: UNSATISFIABLE.
    - Unsatisfiable members are dropped; if none is left: UNSATISFIABLE (RFC 9110 14.1.1).
    - If the members add up to more bytes than the representation has: FULL.
      That is Go's defence against overlapping-range amplification (CVE-2011-3192).
    - Overlapping and adjacent ranges are coalesced and sorted (RFC 9110 14.2 allows
      it); more than ``max_parts`` ranges left: FULL.
    - Otherwise PARTIAL, even when the single range covers the whole representation
      (``bytes=0-``): players expect a 206 to a range request.
    """
    if parsed.kind is RangeHeaderKind.INVALID:
        return _UNSATISFIABLE
    if parsed.kind is not RangeHeaderKind.SPECS:
        return _FULL

    # Work on (start, end) pairs and on distinct members (the parser shares one object
    # per distinct member text), so that a header of thousands of members stays cheap.
    counts = Counter(map(id, parsed.specs))
    distinct = {id(spec): spec for spec in parsed.specs}
    resolved: list[tuple[int, int]] = []
    total = 0
    for key, spec in distinct.items():
        bounds = spec._bounds(size)
        if bounds is not None:
            resolved.append(bounds)
            total += (bounds[1] - bounds[0] + 1) * counts[key]
    if not resolved:
        return _UNSATISFIABLE
    if total > size:
        return _FULL

    resolved.sort()
    merged: list[list[int]] = [list(resolved[0])]
    for start, end in resolved[1:]:
        current = merged[-1]
        if start <= current[1] + 1:
            current[1] = max(current[1], end)
        else:
            if len(merged) == max_parts:
                return _FULL
            merged.append([start, end])
    if len(merged) > max_parts:
        return _FULL
    return RangeDecision(RangeOutcome.PARTIAL, tuple(ByteRange(s, e) for s, e in merged))


# --------------------------------------------------------------------------- multipart


@dataclass(frozen=True)
class MultipartPart:
    range: ByteRange
    header: bytes  # everything the body holds before this part's bytes


@dataclass(frozen=True)
class MultipartLayout:
    boundary: str
    parts: tuple[MultipartPart, ...]
    closing: bytes
    content_length: int  # len(header + data) over all parts, plus len(closing)
    content_type: str  # the 206's Content-Type field value


def multipart_layout(
    ranges: Sequence[ByteRange], size: int, part_content_type: str, boundary: str
) -> MultipartLayout:
    """The exact framing of a ``multipart/byteranges`` body (RFC 9110 14.6, RFC 2046 5.1).

    The body is, in order: for each part ``part.header`` then that range's bytes,
    then ``closing``. The bytes match Go's mime/multipart writer as used by
    ``http.ServeContent``: the first part opens with ``--B\\r\\n`` (no preamble),
    later ones with ``\\r\\n--B\\r\\n``, headers in Go's sorted order (Content-Range,
    Content-Type), and the body ends with ``\\r\\n--B--\\r\\n``.

    Raises ValueError for no ranges, a range past ``size``, a boundary that RFC 2046
    does not allow, or a content type that would break the header framing.
    """
    if not ranges:
        raise ValueError("a multipart body needs at least one range")
    if not _BOUNDARY.fullmatch(boundary):
        raise ValueError(f"invalid multipart boundary {boundary!r}")
    if any(c in part_content_type for c in "\r\n\0"):
        raise ValueError("control character in part content type")
    content_type_line = f"Content-Type: {part_content_type}\r\n".encode("latin-1")

    parts: list[MultipartPart] = []
    total = 0
    for i, r in enumerate(ranges):
        if r.end >= size:
            raise ValueError(f"range {r.start}-{r.end} is outside a {size}-byte body")
        opening = f"--{boundary}\r\n" if i == 0 else f"\r\n--{boundary}\r\n"
        header = (
            opening.encode("ascii")
            + f"Content-Range: {r.content_range(size)}\r\n".encode("ascii")
            + content_type_line
            + b"\r\n"
        )
        parts.append(MultipartPart(range=r, header=header))
        total += len(header) + r.length
    closing = f"\r\n--{boundary}--\r\n".encode("ascii")
    total += len(closing)
    return MultipartLayout(
        boundary=boundary,
        parts=tuple(parts),
        closing=closing,
        content_length=total,
        content_type=f"multipart/byteranges; boundary={boundary}",
    )


# --------------------------------------------------------------------------- preconditions


class Precondition(enum.Enum):
    PROCEED = "proceed"
    NOT_MODIFIED = "not_modified"  # 304
    PRECONDITION_FAILED = "precondition_failed"  # 412


_STAR = "*"


def _present(value: str | None) -> bool:
    # An empty field is treated as absent, as Go and Django do.
    return value is not None and value.strip(_OWS) != ""


def _etag_list(value: str) -> list[str] | None:
    """The entity-tags of an If-Match / If-None-Match value; [_STAR] for ``*``;
    None when the value is malformed (then no tag matches)."""
    value = value.strip(_OWS)
    if value == _STAR:
        return [_STAR]
    if not _ETAG_LIST.fullmatch(value):
        return None
    return _ETAG.findall(value)


def _is_strong(tag: str) -> bool:
    return tag.startswith('"') and _ETAG.fullmatch(tag) is not None


def _strong_match(a: str, b: str | None) -> bool:
    # RFC 9110 8.8.3.2: both strong and identical.
    return b is not None and a == b and _is_strong(a)


def _weak_match(a: str, b: str | None) -> bool:
    # RFC 9110 8.8.3.2: opaque-tags identical, weakness ignored.
    if b is None or _ETAG.fullmatch(b) is None:
        return False
    return a.removeprefix("W/") == b.removeprefix("W/")


def evaluate_preconditions(
    method: str,
    etag: str | None,
    *,
    if_match: str | None,
    if_none_match: str | None,
    if_unmodified_since: str | None,
    if_modified_since: str | None,
) -> Precondition:
    """Evaluate the preconditions of RFC 9110 13.2.2 for an existing representation.

    Order: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since
    (If-Range is ``if_range_allows_partial``, evaluated after this by the caller).

    - If-Match: ``*`` passes (the representation exists, even with an unknown ETag);
      a list passes only on a strong match with ``etag``. Fails: 412.
    - If-Unmodified-Since and If-Modified-Since: RFC 9110 13.1.4 and 13.1.3 apply them
      only to a representation with a Last-Modified date, and ours has none, so they
      are accepted and never change the outcome.
    - If-None-Match: ``*`` or a weak match with ``etag`` fails the condition: 304
      for GET and HEAD, 412 for any other method.

    Empty fields count as absent; malformed ones match nothing.
    """
    if _present(if_match):
        assert if_match is not None
        tags = _etag_list(if_match) or []
        if not any(t == _STAR or _strong_match(t, etag) for t in tags):
            return Precondition.PRECONDITION_FAILED
    # Step 2, If-Unmodified-Since, needs a Last-Modified date: never applies here.

    if _present(if_none_match):
        assert if_none_match is not None
        tags = _etag_list(if_none_match) or []
        if any(t == _STAR or _weak_match(t, etag) for t in tags):
            if method in ("GET", "HEAD"):
                return Precondition.NOT_MODIFIED
            return Precondition.PRECONDITION_FAILED
    # Step 4, If-Modified-Since, needs a Last-Modified date: never applies here.
    return Precondition.PROCEED


def if_range_allows_partial(if_range: str | None, etag: str | None) -> bool:
    """Whether an If-Range field lets the Range header through (RFC 9110 13.1.5).

    True when there is no (or an empty) If-Range, or when it is a strong entity-tag
    identical to ``etag``. A weak tag, an HTTP-date (we have no Last-Modified to
    compare it with strongly) or garbage: False, and the caller serves a 200.
    Only meaningful for a GET carrying a Range header; the caller checks that.
    """
    if not _present(if_range):
        return True
    assert if_range is not None
    candidate = if_range.strip(_OWS)
    return _strong_match(candidate, etag)
