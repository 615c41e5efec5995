"""One emulator for the whole session, over a generated object store.

Every test starts from a reset emulator (faults off, counters at zero).
"""

from __future__ import annotations

import hashlib
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from dcs_emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, Emulator, run_in_thread

ELEVEN = b"hello world"
BIG = random.Random(20240601).randbytes(200_000)
MIB = 1024 * 1024

#: extension → (Content-Type, Cache-Control), as the contract lists them
TYPE_TABLE = {
    "mp3": ("audio/mpeg", "public, max-age=86400, immutable"),
    "mp4": ("video/mp4", "public, max-age=86400, immutable"),
    "webm": ("video/webm", "public, max-age=86400, immutable"),
    "ogg": ("audio/ogg", "public, max-age=86400, immutable"),
    "wav": ("audio/wav", "public, max-age=86400, immutable"),
    "m4a": ("audio/mp4", "public, max-age=86400, immutable"),
    "aac": ("audio/aac", "public, max-age=86400, immutable"),
    "flac": ("audio/flac", "public, max-age=86400, immutable"),
    "srt": ("text/plain; charset=utf-8", "public, max-age=3600"),
    "vtt": ("text/vtt; charset=utf-8", "public, max-age=3600"),
    "png": ("image/png", "public, max-age=86400, immutable"),
    "jpg": ("image/jpeg", "public, max-age=86400, immutable"),
    "jpeg": ("image/jpeg", "public, max-age=86400, immutable"),
    "gif": ("image/gif", "public, max-age=86400, immutable"),
    "webp": ("image/webp", "public, max-age=86400, immutable"),
    "svg": ("image/svg+xml", "public, max-age=86400, immutable"),
    "pdf": ("application/pdf", "public, max-age=3600"),
    "json": ("application/json", "private, max-age=3600"),
    # not in the map: the stored type of uploaded books
    "txt": ("application/octet-stream", "public, max-age=3600"),
    "bin": ("application/octet-stream", "public, max-age=3600"),
    "MP3": ("audio/mpeg", "public, max-age=86400, immutable"),
}

BOOK_FILES: dict[str, bytes] = {
    "eleven.mp3": ELEVEN,
    "empty.mp3": b"",
    "big.bin": BIG,
    "Ünite 1/müzik.mp3": b"latin-1 name",
    "Ünite 1/şarkı.mp3": b"not latin-1",
    "subs/lesson.vtt": b"WEBVTT\n\n00:00.000 --> 00:01.000\nMerhaba\n",
    "subs/lesson.srt": b"1\n00:00:00,000 --> 00:00:01,000\nMerhaba\n",
    "notes.txt": b"plain notes",
    "config.json": b'{"title": "Book"}',
    "back\\slash.mp3": b"backslash",
    "şarkılar/ok.mp3": b"only the basename counts",
    "no_extension": b"noext",
    **{f"types/sample.{ext}": f"sample {ext}".encode() for ext in TYPE_TABLE},
}

TREE_FILES: dict[str, bytes] = {
    "config.json": b"{}",
    "audio/08.mp3": b"8" * 8,
    "audio/01.mp3": b"1" * 3,
    "audio.mp3": b"a" * 5,
    "a/b/c.txt": b"c",
}


#: objects around the multipart threshold (5 MiB), whose ETags are part-style above it
_LARGE = random.Random(20261130).randbytes(8 * MIB + 1)
LARGE_FILES: dict[str, bytes] = {
    "exactly5.bin": _LARGE[: 5 * MIB],
    "over5.bin": _LARGE[: 5 * MIB + 1],
    "over8.bin": _LARGE,
}


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def multipart_etag(data: bytes, part_size: int = 8 * MIB) -> str:
    """S3's ETag of a multipart upload: md5 of the parts' binary md5s, then -<parts>."""
    parts = [data[i : i + part_size] for i in range(0, len(data), part_size)]
    combined = hashlib.md5(b"".join(hashlib.md5(part).digest() for part in parts)).hexdigest()
    return f"{combined}-{len(parts)}"


def write_files(base: Path, files: dict[str, bytes]) -> None:
    for relative, content in files.items():
        target = base.joinpath(*relative.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


@pytest.fixture(scope="session")
def dcs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dcs")
    write_files(root / "Pub" / "books" / "Book", BOOK_FILES)
    write_files(root / "Pub" / "books" / "Tree", TREE_FILES)
    write_files(root / "Pub" / "books" / "Large", LARGE_FILES)
    (root / "Pub" / "books" / "Tree" / "emptydir").mkdir()
    (root / "Pub" / "books" / "Empty").mkdir(parents=True)
    return root


@pytest.fixture(scope="session")
def session_emu(dcs_root: Path) -> Iterator[Emulator]:
    emulator = run_in_thread(dcs_root)
    yield emulator
    emulator.stop()


@pytest.fixture
def emu(session_emu: Emulator) -> Iterator[Emulator]:
    session_emu.reset()
    yield session_emu
    session_emu.reset()


@pytest.fixture(scope="session")
def session_s3_emu(dcs_root: Path, moto_endpoint: str) -> Iterator[Emulator]:
    """An emulator whose presigned URLs point into moto (through its gateway)."""
    emulator = run_in_thread(dcs_root, s3_endpoint=moto_endpoint, s3_bucket="books")
    yield emulator
    emulator.stop()


@pytest.fixture
def s3_emu(session_s3_emu: Emulator) -> Iterator[Emulator]:
    session_s3_emu.reset()
    yield session_s3_emu
    session_s3_emu.reset()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def login(emu: Emulator, email: str = DEFAULT_EMAIL, password: str = DEFAULT_PASSWORD) -> str:
    response = requests.post(
        f"{emu.base_url}/auth/login", json={"email": email, "password": password}, timeout=5
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
def auth(emu: Emulator) -> dict[str, str]:
    """A valid bearer header; the login that got it is wiped from the stats."""
    token = login(emu)
    emu.stats.reset()
    return {"Authorization": f"Bearer {token}"}


def object_url(emu: Emulator, publisher: str = "Pub", book: str = "Book") -> str:
    return f"{emu.base_url}/storage/books/{publisher}/{book}/object"


def raw_exchange(emu: Emulator, request: bytes, timeout: float = 5) -> bytes:
    """Send raw bytes, read until the server closes; socket.timeout if it never does."""
    with socket.create_connection((emu.host, emu.port), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def split_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body
