"""Real players and download tools against the media proxy, through signed links.

Each tool gets what a player gets in the field: a signed URL and no cookie or
header. Every answer is compared byte for byte with the source file, and the
emulator's request log shows what reached DCS. Every test runs twice: straight
to gunicorn (streaming mode), and through the shipped nginx in offload mode.
"""

import hashlib
import json
import re
import shutil
import socket
import subprocess
import time
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests import media
from tests.conftest import require_tool
from tests.factories import bearer, student_with_book

pytestmark = [pytest.mark.wire, pytest.mark.tools]

MP4 = "videos/unit 1/intro.mp4"
ONE_MIB = "data/random-1m.bin"
FOUR_MIB = "data/random-4m.bin"
TIMEOUT = 60
PROBE = "bytes=0-0"  # how Django learns a cold object's size in offload mode


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=True, timeout=TIMEOUT, capture_output=True)


@pytest.fixture(params=["streaming", "nginx-offload"])
def lms(request, transactional_db, dcs):
    server = "lms_offload_server" if request.param == "nginx-offload" else "lms_server"
    return request.getfixturevalue(server)


@pytest.fixture
def link(lms, media_root):
    """link(path) → a signed URL, made with a bearer token, for a book of this test only.

    The book is new, so the proxy has no cached size for its files: every test
    sees the proxy's cold path, whatever ran before it.
    """
    user, book = student_with_book(book_name=f"players-{uuid.uuid4().hex[:12]}")
    folder = media_root / book.publisher.name / "books" / book.book_name

    def make(path: str) -> str:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(media.file_bytes(path))
        response = requests.post(
            lms.url(f"/api/v1/books/{book.pk}/media-links"),
            json={"path": path},
            headers=bearer(user),
            timeout=10,
        )
        assert response.status_code == 201, response.text
        url = response.json()["url"]
        assert url.startswith(lms.base_url + "/"), url
        return url

    yield make
    shutil.rmtree(folder, ignore_errors=True)


# --- what reached DCS, what reached the LMS ----------------------------------------------


def upstream(lms, dcs) -> tuple[list, list[str | None]]:
    """(the DCS object requests that carried the client's bytes, the Range of Django's probes).

    Streaming: Django makes them all, and probes never. Offload: nginx carries the bytes
    (it forwards no User-Agent); Django only probes a cold object's size.
    """
    records = [record for record in dcs.stats.requests if record.path.endswith("/object")]
    if not lms.offload:
        return records, []
    by_django = [record for record in records if "User-Agent" in record.headers]
    return (
        [record for record in records if record not in by_django],
        [record.headers.get("Range") for record in by_django],
    )


def served_ranges(lms, dcs) -> list[str | None]:
    return [record.headers.get("Range") for record in upstream(lms, dcs)[0]]


def range_start(header: str | None) -> int | None:
    match = re.fullmatch(r"bytes=(\d+)-\d*", header or "")
    return int(match[1]) if match else None


def client_ranges(lms, url: str, count: int) -> list[str | None]:
    """The Range headers of the media requests the LMS logged for this URL's book (it logs
    a stream when it closes, so wait for `count` of them)."""
    book_id = urlsplit(url).path.split("/")[4]
    deadline = time.monotonic() + 5
    while True:
        records = [
            json.loads(line.split("media_stream ", 1)[1])
            for line in lms.log_lines()
            if "media_stream " in line and book_id in line
        ]
        if len(records) >= count or time.monotonic() > deadline:
            return [record["range"] for record in records]
        time.sleep(0.05)


# --- Safari / iOS ------------------------------------------------------------------------


def test_safari_pattern_on_one_keep_alive_connection(lms, dcs, link):
    """bytes=0-1 first, then small ranges, the tail, the rest: each exact, one DCS
    request each, and no new DCS connection once the object's size is known.

    The first, cold probe is fetched open-ended and cut after 2 bytes (one DCS
    request even for a range past the end; see README), which costs the pooled
    connection it used: exactly one reconnect, then none.
    """
    url = link(MP4)
    source = media.file_bytes(MP4)
    size = len(source)
    pattern = [(0, 1), (0, 65535), (65536, 131071), (size - 65536, size - 1), (131072, None)]
    local_ports = set()
    with requests.Session() as session:
        for number, (first, last) in enumerate(pattern, start=1):
            header = f"bytes={first}-{'' if last is None else last}"
            response = session.get(url, headers={"Range": header}, stream=True, timeout=10)
            local_ports.add(response.raw.connection.sock.getsockname()[1])
            body = response.content
            end = size - 1 if last is None else last
            assert response.status_code == 206, header
            assert response.headers["Content-Range"] == f"bytes {first}-{end}/{size}", header
            assert response.headers["Content-Length"] == str(end - first + 1), header
            assert response.headers["Content-Type"] == "video/mp4"
            assert response.headers["Accept-Ranges"] == "bytes"
            assert body == source[first : end + 1], header
            if number == 1:
                assert len(body) == 2
            if number == 2:
                warm = dcs.stats.connections_opened
            served, probes = upstream(lms, dcs)
            assert len(served) == number, header
            assert probes == ([PROBE] if lms.offload else [])
    assert dcs.stats.connections_opened == warm, "a new DCS connection once the size was known"
    assert len(local_ports) == 1, "the player's keep-alive connection was not reused"


# --- ffmpeg / ffprobe ---------------------------------------------------------------------


def test_ffprobe_reads_duration_and_codecs(lms, link):
    ffprobe = require_tool("ffprobe")
    url = link(MP4)
    result = run(
        ffprobe, "-v", "error", "-show_entries", "format=duration:stream=codec_name",
        "-of", "json", url,
    )  # fmt: skip
    info = json.loads(result.stdout)
    assert float(info["format"]["duration"]) == pytest.approx(36, abs=0.5)
    assert sorted(stream["codec_name"] for stream in info["streams"]) == ["aac", "h264"]


def test_ffmpeg_seeks_over_http_and_grabs_a_frame(lms, dcs, link, tmp_path):
    ffmpeg = require_tool("ffmpeg")
    url = link(MP4)
    size = len(media.file_bytes(MP4))
    local = tmp_path / "local.mp4"
    local.write_bytes(media.file_bytes(MP4))
    frames = {}
    for name, source in [("http", url), ("local", str(local))]:
        frames[name] = tmp_path / f"{name}.png"
        run(ffmpeg, "-nostdin", "-v", "error", "-ss", "20", "-i", source, "-frames:v", "1",
            "-f", "image2", str(frames[name]))  # fmt: skip
    png = frames["http"].read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png == frames["local"].read_bytes()  # the very frame ffmpeg finds in the file
    ranges = served_ranges(lms, dcs)
    starts = [range_start(header) for header in ranges]
    assert None not in starts, ranges  # every DCS request was ranged
    assert any(0 < start < size for start in starts), f"ffmpeg never seeked: {ranges}"


def send_get(url: str, range_header: str) -> socket.socket:
    """A request as ffmpeg sends it: `Connection: close`, on a new connection."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall(
        f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Range: {range_header}\r\nConnection: close\r\n\r\n".encode()
    )
    return sock


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """The status line and headers, and Content-Length bytes of body; the socket stays open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?im)^content-length: *(\d+)", head)[1])
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head, body


def test_a_seek_is_answered_while_the_previous_connection_is_still_open(lms, link):
    """ffmpeg's seek: it opens the new connection first and closes the old one only once
    the new one answers. The server must not wait for the old one to go away."""
    url = link(MP4)
    source = media.file_bytes(MP4)
    old, new = send_get(url, "bytes=0-"), None
    try:
        head, body = read_response(old)
        assert head.startswith(b"HTTP/1.1 206")
        assert body == source
        time.sleep(0.2)  # ffmpeg reads the moov box before it seeks
        started = time.monotonic()
        new = send_get(url, "bytes=273660-")
        head, body = read_response(new)
        waited = time.monotonic() - started
        assert head.startswith(b"HTTP/1.1 206")
        assert body == source[273660:]
    finally:
        old.close()
        if new is not None:
            new.close()
    assert waited < 1.0, f"the seek waited {waited:.2f} s for the previous connection to close"


# --- curl ----------------------------------------------------------------------------------


def test_curl_range_and_full_download(lms, dcs, link, tmp_path):
    curl = require_tool("curl")
    url = link(ONE_MIB)
    source = media.file_bytes(ONE_MIB)
    part = tmp_path / "part.bin"
    run(curl, "-sS", "--fail", "-r", "1000-1999", "-o", str(part), url)
    assert part.read_bytes() == source[1000:2000]

    whole = tmp_path / "whole.bin"
    run(curl, "-sS", "--fail", "-o", str(whole), url)
    assert sha(whole.read_bytes()) == sha(source)
    ranges = served_ranges(lms, dcs)
    assert [range_start(header) for header in ranges] == [1000, None], ranges


def parse_multipart(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    return [(part["Content-Range"], part.get_payload(decode=True)) for part in message.iter_parts()]


def test_curl_multi_range_is_multipart(lms, link, tmp_path):
    curl = require_tool("curl")
    url = link(ONE_MIB)
    source = media.file_bytes(ONE_MIB)
    out = tmp_path / "out"
    result = run(
        curl, "-sS", "--fail", "-r", "0-9,100-109", "-o", str(out),
        "-w", "%{http_code}\n%{content_type}\n%{size_download}", url,
    )  # fmt: skip
    status, content_type, size_download = result.stdout.decode().split("\n")
    body = out.read_bytes()
    assert status == "206"
    assert content_type.startswith("multipart/byteranges; boundary=")
    assert int(size_download) == len(body)
    assert parse_multipart(content_type, body) == [
        ("bytes 0-9/1048576", source[0:10]),
        ("bytes 100-109/1048576", source[100:110]),
    ]


# --- wget -c -------------------------------------------------------------------------------


def test_wget_resumes_an_interrupted_download(lms, dcs, link, tmp_path):
    wget = require_tool("wget")
    url = link(FOUR_MIB)
    source = media.file_bytes(FOUR_MIB)
    out = tmp_path / "out.bin"
    out.write_bytes(source[:1_000_000])  # what an interrupted download leaves behind
    run(wget, "-q", "-c", "-O", str(out), url)
    assert sha(out.read_bytes()) == sha(source)
    assert client_ranges(lms, url, 1) == ["bytes=1000000-"]
    served, _ = upstream(lms, dcs)
    assert [range_start(record.headers.get("Range")) for record in served] == [1_000_000]
    assert served[0].bytes_sent == len(source) - 1_000_000


# --- aria2c -x4 ---------------------------------------------------------------------------


def test_aria2c_parallel_segments(lms, dcs, link, tmp_path):
    aria2c = require_tool("aria2c")
    url = link(FOUR_MIB)
    source = media.file_bytes(FOUR_MIB)
    # On loopback the first connection would fetch all 4 MiB before aria2c opens the
    # others; a short pause after 256 KiB of each DCS answer lets the split happen.
    dcs.faults.stall_after_bytes = (256 * 1024, 0.3)
    run(
        aria2c, "-x4", "-s4", "-k1M", "--allow-overwrite=true", "--auto-file-renaming=false",
        "--file-allocation=none", "--console-log-level=warn", "--summary-interval=0",
        "-d", str(tmp_path), "-o", "out.bin", url,
    )  # fmt: skip
    assert sha(Path(tmp_path, "out.bin").read_bytes()) == sha(source)
    assert not Path(tmp_path, "out.bin.aria2").exists()
    asked = client_ranges(lms, url, 3)
    assert len({header for header in asked if range_start(header)}) >= 2, asked
    ranges = served_ranges(lms, dcs)
    assert len({header for header in ranges if range_start(header)}) >= 2, ranges
