"""The emulator's pure parts, table by table (no sockets)."""

from __future__ import annotations

import time

import jwt
import pytest

from dcs_emulator.app import faulty_body
from dcs_emulator.faults import Faults
from dcs_emulator.paths import InvalidPath, check_segment, normalize_object_path
from dcs_emulator.ranges import (
    INVALID_FORMAT,
    NOT_SATISFIABLE,
    ByteRange,
    RangeNotSatisfiable,
    resolve_range,
)
from dcs_emulator.store import CHUNK_SIZE, ObjectStore, cache_control_for, content_type_for
from dcs_emulator.tokens import TokenService


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 11, None),
        ("", 11, None),
        ("   ", 11, None),
        ("bytes=0-9", 11, ByteRange(0, 9)),
        ("bytes=0-10", 11, ByteRange(0, 10)),
        ("bytes=4-", 11, ByteRange(4, 10)),
        ("bytes=0-", 11, ByteRange(0, 10)),
        ("bytes=-3", 11, ByteRange(8, 10)),
        ("bytes=-11", 11, ByteRange(0, 10)),
        ("bytes=-12", 11, ByteRange(0, 10)),
        ("bytes=0-9,20-29", 11, ByteRange(0, 9)),
        ("bytes=2-3junk", 11, ByteRange(2, 3)),  # re.match: only the start must match
        ("bytes=0-0", 1, ByteRange(0, 0)),
        ("bytes=999999999999-999999999999", 10**12, ByteRange(10**12 - 1, 10**12 - 1)),
    ],
)
def test_resolve_range_serves(header: str | None, size: int, expected: ByteRange | None) -> None:
    assert resolve_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size", "detail"),
    [
        ("bytes=0-11", 11, NOT_SATISFIABLE),
        ("bytes=11-", 11, NOT_SATISFIABLE),
        ("bytes=-0", 11, NOT_SATISFIABLE),
        ("bytes=-", 11, NOT_SATISFIABLE),
        ("bytes=5-4", 11, NOT_SATISFIABLE),
        ("bytes=0-0", 0, NOT_SATISFIABLE),
        ("bytes=-1", 0, NOT_SATISFIABLE),
        ("bytes=0-", 0, NOT_SATISFIABLE),
        ("Bytes=0-1", 11, INVALID_FORMAT),
        ("items=0-1", 11, INVALID_FORMAT),
        ("bytes= 0-9", 11, INVALID_FORMAT),
        ("bytes=5", 11, INVALID_FORMAT),
        (" bytes=0-1", 11, INVALID_FORMAT),
    ],
)
def test_resolve_range_refuses(header: str, size: int, detail: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        resolve_range(header, size)
    assert caught.value.detail == detail


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a.mp3", "a.mp3"),
        ("  a.mp3 \t", "a.mp3"),
        ("./a.mp3", "a.mp3"),
        ("audio//a.mp3", "audio/a.mp3"),
        ("audio/./a.mp3", "audio/a.mp3"),
        ("audio/a.mp3/", "audio/a.mp3"),
        ("/a.mp3", "a.mp3"),
        ("a\\b.mp3", "a\\b.mp3"),
        ("..\\a.mp3", "..\\a.mp3"),
        ("...", "..."),
        ("", ""),
        (".", ""),
    ],
)
def test_normalize_object_path(raw: str, expected: str) -> None:
    assert normalize_object_path(raw) == expected


@pytest.mark.parametrize("raw", ["..", "../a", "a/../b", "a/..", " ../a ", "a/./../b"])
def test_normalize_object_path_refuses_traversal(raw: str) -> None:
    with pytest.raises(InvalidPath, match="path must not traverse directories"):
        normalize_object_path(raw)


@pytest.mark.parametrize("value", ["", ".", "..", "a/b", "a\\b", "/", "\\"])
def test_check_segment_refuses(value: str) -> None:
    with pytest.raises(InvalidPath):
        check_segment(value, "publisher")


@pytest.mark.parametrize("value", ["Pub", "Dream Press", "Yayınevi", "...", "a.b"])
def test_check_segment_accepts(value: str) -> None:
    assert check_segment(value, "publisher") == value


@pytest.mark.parametrize(
    ("key", "content_type", "cache_control"),
    [
        ("P/books/B/a.mp3", "audio/mpeg", "public, max-age=86400, immutable"),
        ("P/books/B/a.MP4", "video/mp4", "public, max-age=86400, immutable"),
        ("P/books/B/a.vtt", "text/vtt; charset=utf-8", "public, max-age=3600"),
        ("P/books/B/a.json", "application/json", "private, max-age=3600"),
        ("P/books/B/a.svg", "image/svg+xml", "public, max-age=86400, immutable"),
        ("P/books/B/a.txt", "application/octet-stream", "public, max-age=3600"),
        ("P/books/B/README", "application/octet-stream", "public, max-age=3600"),
        ("P/books/B.mp3/README", "application/octet-stream", "public, max-age=3600"),
    ],
)
def test_content_type_and_cache_control(key: str, content_type: str, cache_control: str) -> None:
    assert content_type_for(key) == content_type
    assert cache_control_for(content_type) == cache_control


def test_store_reads_in_32_kib_chunks_and_caches_etags(tmp_path) -> None:
    target = tmp_path / "P" / "books" / "B" / "f.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(bytes(range(256)) * 1000)  # 256000 bytes
    store = ObjectStore(tmp_path)
    info = store.head("P/books/B/f.bin")
    chunks = list(store.read(info, 0, info.size - 1))
    assert CHUNK_SIZE == 32 * 1024
    assert [len(chunk) for chunk in chunks[:-1]] == [CHUNK_SIZE] * (len(chunks) - 1)
    assert b"".join(chunks) == target.read_bytes()
    assert b"".join(store.read(info, 1000, 1009)) == target.read_bytes()[1000:1010]
    # cached: the same identity is not hashed again; a rewrite changes the ETag
    assert store.head("P/books/B/f.bin").etag == info.etag
    target.write_bytes(b"changed")
    assert store.head("P/books/B/f.bin").etag != info.etag


def _shape(faults: Faults, total: int = 100, chunk: int = 30) -> tuple[list[int], list[str]]:
    events: list[str] = []
    data = bytes(total)
    chunks = [data[i : i + chunk] for i in range(0, total, chunk)]
    sizes = [
        len(piece) for piece in faulty_body(chunks, total, faults, lambda _: events.append("w"))
    ]
    return sizes, events


def test_faulty_body_passes_through_without_faults() -> None:
    assert _shape(Faults()) == ([30, 30, 30, 10], [])


def test_faulty_body_cuts_exactly() -> None:
    assert _shape(Faults(cut_after_bytes=45)) == ([30, 15], [])
    assert _shape(Faults(cut_after_bytes=0)) == ([], ["w"])  # headers flushed, no body
    assert _shape(Faults(cut_after_bytes=1000)) == ([30, 30, 30, 10], [])


def test_faulty_body_stalls_at_the_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    assert _shape(Faults(stall_after_bytes=(45, 0.25))) == ([30, 15, 15, 30, 10], [])
    assert sleeps == [0.25]
    assert _shape(Faults(stall_after_bytes=(0, 0.5))) == ([30, 30, 30, 10], ["w"])
    assert sleeps == [0.25, 0.5]


def test_faults_update_validates_everything_first() -> None:
    faults = Faults()
    faults.update({"status": 502, "stall_after_bytes": [10, 0.5], "ignore_range": True})
    assert faults.status == 502
    assert faults.stall_after_bytes == (10, 0.5)
    with pytest.raises(ValueError, match="unknown fault"):
        faults.update({"cut_after_bytes": 5, "nope": 1})
    assert faults.cut_after_bytes is None
    for bad in ({"status": "500"}, {"ignore_range": 1}, {"stall_after_bytes": [1]}):
        with pytest.raises(ValueError, match="must be"):
            faults.update(bad)
    faults.reset()
    assert faults == Faults()


def test_tokens_claims_and_rotation() -> None:
    service = TokenService("x" * 40, lifetime=1800)
    token = service.issue("1")
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, "x" * 40, algorithms=["HS256"])
    assert header["alg"] == "HS256"
    assert set(claims) == {"sub", "iat", "exp"}
    assert claims["sub"] == "1"
    assert claims["exp"] - claims["iat"] == 1800
    assert service.subject(token) == "1"
    service.revoke_all()
    assert service.subject(token) is None
    assert service.subject(service.issue("1")) == "1"
    assert service.subject(service.issue("1", lifetime=0)) is None  # no leeway
