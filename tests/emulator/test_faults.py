"""Each fault switch, observed from a real client."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from dcs_emulator import Emulator, Faults

from .conftest import BIG, ELEVEN, object_url, raw_exchange, split_response

pytestmark = pytest.mark.wire


def raw_get(emu: Emulator, auth: dict[str, str], path: str, extra: str = "") -> bytes:
    """A keep-alive request: the read only ends if the server closes the connection."""
    return (
        f"GET /storage/books/Pub/Book/object?path={path} HTTP/1.1\r\nHost: dcs\r\n"
        f"Authorization: {auth['Authorization']}\r\n{extra}\r\n"
    ).encode()


def test_faults_are_off_by_default(emu: Emulator) -> None:
    assert emu.faults == Faults()
    assert Faults() == Faults(
        ignore_range=False,
        cut_after_bytes=None,
        stall_before_headers=0.0,
        stall_after_bytes=None,
        status=None,
        wrong_content_range=False,
        token_lifetime=None,
    )


def test_ignore_range(emu: Emulator, http: requests.Session, auth: dict[str, str]) -> None:
    emu.faults.ignore_range = True
    response = http.get(
        object_url(emu), params={"path": "eleven.mp3"}, headers={**auth, "Range": "bytes=0-0"}
    )
    assert response.status_code == 200
    assert response.content == ELEVEN
    assert "Content-Range" not in response.headers


@pytest.mark.parametrize(("cut", "range_header"), [(1000, None), (5, "bytes=100-50099"), (0, None)])
def test_cut_after_bytes_closes_the_connection(
    emu: Emulator, auth: dict[str, str], cut: int, range_header: str | None
) -> None:
    emu.faults.cut_after_bytes = cut
    extra = f"Range: {range_header}\r\n" if range_header else ""
    started = time.monotonic()
    raw = raw_exchange(emu, raw_get(emu, auth, "big.bin", extra), timeout=5)  # EOF, no hang
    assert time.monotonic() - started < 2
    status, headers, body = split_response(raw)
    expected = BIG if range_header is None else BIG[100:50100]
    assert status == (200 if range_header is None else 206)
    assert headers["content-length"] == str(len(expected))  # the full length is announced
    assert body == expected[:cut]
    assert emu.stats.requests[-1].bytes_sent == cut


def test_cut_body_makes_requests_raise(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    emu.faults.cut_after_bytes = 1000
    response = http.get(object_url(emu), params={"path": "big.bin"}, headers=auth, stream=True)
    assert response.headers["Content-Length"] == str(len(BIG))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        _ = response.content
    emu.faults.cut_after_bytes = None
    # the next request on the same Session needs a new TCP connection
    again = http.get(object_url(emu), params={"path": "big.bin"}, headers=auth)
    assert again.content == BIG
    assert emu.stats.connections_opened == 2


def test_cut_larger_than_the_body_changes_nothing(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    emu.faults.cut_after_bytes = 1000
    response = http.get(object_url(emu), params={"path": "eleven.mp3"}, headers=auth)
    assert response.content == ELEVEN
    http.get(object_url(emu), params={"path": "eleven.mp3"}, headers=auth)
    assert emu.stats.connections_opened == 1


def test_stall_before_headers(emu: Emulator, auth: dict[str, str]) -> None:
    emu.faults.stall_before_headers = 0.4
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(raw_get(emu, auth, "eleven.mp3"))
        first = sock.recv(1)
        waited = time.monotonic() - started
    assert first == b"H"
    assert 0.35 <= waited < 2


def test_stall_before_headers_times_out_a_client(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    emu.faults.stall_before_headers = 0.6
    with pytest.raises(requests.exceptions.ReadTimeout):
        http.get(object_url(emu), params={"path": "eleven.mp3"}, headers=auth, timeout=0.2)


@pytest.mark.parametrize("after", [50_000, 0])
def test_stall_after_bytes(emu: Emulator, auth: dict[str, str], after: int) -> None:
    emu.faults.stall_after_bytes = (after, 0.5)
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(raw_get(emu, auth, "big.bin"))
        received = b""
        while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < after:
            received += sock.recv(65536)
        before_stall = time.monotonic() - started
        head, _, body = received.partition(b"\r\n\r\n")
        assert body == BIG[:after]  # exactly K bytes arrive before the pause
        while len(body) < len(BIG):
            body += sock.recv(65536)
        total = time.monotonic() - started
    assert before_stall < 0.3
    assert total >= 0.45
    assert body == BIG
    assert b"Content-Length: 200000" in head


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (500, "text/plain; charset=utf-8", b"Internal Server Error"),
        (502, "application/json", b'{"detail":"Unable to load object metadata"}'),
        (404, "application/json", b'{"detail":"File not found"}'),
        (503, "application/json", b'{"detail":"Service Unavailable"}'),
        (429, "application/json", b'{"detail":"Too Many Requests"}'),
    ],
)
def test_status_fault(
    emu: Emulator,
    http: requests.Session,
    auth: dict[str, str],
    status: int,
    content_type: str,
    body: bytes,
) -> None:
    emu.faults.status = status
    response = http.get(object_url(emu), params={"path": "eleven.mp3"}, headers=auth)
    assert response.status_code == status
    assert response.headers["Content-Type"] == content_type
    assert response.content == body
    # auth still comes first, and listings are not affected
    assert http.get(object_url(emu), params={"path": "eleven.mp3"}).status_code == 403
    assert http.get(f"{emu.base_url}/storage/books/Pub/Book", headers=auth).status_code == 200


def test_wrong_content_range(emu: Emulator, http: requests.Session, auth: dict[str, str]) -> None:
    emu.faults.wrong_content_range = True
    response = http.get(
        object_url(emu), params={"path": "eleven.mp3"}, headers={**auth, "Range": "bytes=2-5"}
    )
    assert response.status_code == 206
    assert response.headers["Content-Range"] == "bytes 3-6/11"
    assert response.headers["Content-Length"] == "4"
    assert response.content == ELEVEN[2:6]  # the true bytes
    whole = http.get(object_url(emu), params={"path": "eleven.mp3"}, headers=auth)
    assert whole.status_code == 200
    assert "Content-Range" not in whole.headers


def test_reset_turns_every_fault_off(emu: Emulator) -> None:
    emu.faults.status = 500
    emu.faults.cut_after_bytes = 3
    emu.faults.stall_after_bytes = (1, 2.0)
    emu.faults.token_lifetime = 1
    emu.reset()
    assert emu.faults == Faults()
