"""Connections as uvicorn (DCS's server) handles them: the contract's "Connections, timings"."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import requests

from dcs_emulator import Emulator, run_in_thread
from dcs_emulator.server import DEFAULT_IDLE_TIMEOUT

from .conftest import ELEVEN, md5, object_url, split_response

pytestmark = pytest.mark.wire


def get(auth: dict[str, str], path: str = "eleven.mp3", extra: str = "") -> bytes:
    return (
        f"GET /storage/books/Pub/Book/object?path={path} HTTP/1.1\r\nHost: dcs\r\n"
        f"Authorization: {auth['Authorization']}\r\n{extra}\r\n"
    ).encode()


_pending: dict[int, bytes] = {}  # bytes received past the response read, per socket


def read_response(sock: socket.socket) -> bytes:
    """One response whose body has a Content-Length (or none: a 304)."""
    received = _pending.pop(sock.fileno(), b"")
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"closed before the headers: {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status, headers, _ = split_response(head + b"\r\n\r\n")
    length = 0 if status == 304 else int(headers.get("content-length", 0))
    while len(body) < length:
        body += sock.recv(65536)
    if body[length:]:
        _pending[sock.fileno()] = body[length:]
    return head + b"\r\n\r\n" + body[:length]


def closed_by_server(sock: socket.socket, within: float = 2) -> bool:
    """True if the server closed the connection (EOF or reset) within `within` seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


# --- idle keep-alive connections --------------------------------------------


def test_the_default_idle_timeout_is_uvicorns_5_seconds(
    emu: Emulator, auth: dict[str, str]
) -> None:
    assert DEFAULT_IDLE_TIMEOUT == 5
    assert emu.idle_timeout == 5
    with socket.create_connection((emu.host, emu.port), timeout=10) as sock:
        sock.sendall(get(auth))
        assert read_response(sock).endswith(ELEVEN)
        idle_since = time.monotonic()
        assert closed_by_server(sock, within=8)
        idled = time.monotonic() - idle_since
    assert 4.8 <= idled < 5.8
    assert emu.stats.idle_closes == 1


def test_a_request_on_a_connection_closed_for_idling_gets_no_answer(
    emu: Emulator, auth: dict[str, str]
) -> None:
    emu.idle_timeout = 0.3
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        sock.sendall(get(auth))
        read_response(sock)
        time.sleep(0.6)
        try:
            sock.sendall(get(auth))
            answer = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            answer = b""
    assert answer == b""  # what a pooled client sees: reset or an empty reply
    assert emu.stats.idle_closes == 1
    assert [record.status for record in emu.stats.requests] == [200]


def test_requests_notices_a_closed_idle_connection_and_reconnects(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    emu.idle_timeout = 0.2
    assert http.get(object_url(emu), params={"path": "eleven.mp3"}, headers=auth).ok
    time.sleep(0.7)  # closed at 0.2 s: urllib3 sees it before reusing the connection
    assert http.get(object_url(emu), params={"path": "eleven.mp3"}, headers=auth).ok
    assert emu.stats.connections_opened == 2
    assert emu.stats.idle_closes == 1


def test_the_idle_timeout_is_between_requests_only(emu: Emulator, auth: dict[str, str]) -> None:
    """A slow answer, or a pause inside a body, is not idling."""
    emu.idle_timeout = 0.2
    emu.faults.stall_before_headers = 0.4
    emu.faults.stall_after_bytes = (3, 0.4)
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        sock.sendall(get(auth))
        assert read_response(sock).endswith(ELEVEN)
        emu.faults.reset()
        sock.sendall(get(auth))  # at once: well within the idle timeout
        assert read_response(sock).endswith(ELEVEN)
    assert emu.stats.connections_opened == 1
    assert emu.stats.idle_closes == 0


def test_a_new_connection_is_not_idle_before_its_first_request(
    emu: Emulator, auth: dict[str, str]
) -> None:
    """uvicorn starts its keep-alive timer when a response is complete."""
    emu.idle_timeout = 0.2
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        time.sleep(0.5)
        sock.sendall(get(auth))
        assert read_response(sock).endswith(ELEVEN)
        assert closed_by_server(sock)
    assert emu.stats.idle_closes == 1


def test_pipelined_requests_are_not_idle(emu: Emulator, auth: dict[str, str]) -> None:
    emu.idle_timeout = 0.3
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        sock.sendall(get(auth) + get(auth, extra="Range: bytes=0-4\r\n"))
        first = read_response(sock)
        started = time.monotonic()
        second = read_response(sock)
        assert time.monotonic() - started < 0.2
    assert first.endswith(ELEVEN)
    assert second.endswith(b"hello")


def test_idle_timeout_is_an_option(dcs_root: Path, auth: dict[str, str]) -> None:
    with run_in_thread(dcs_root, idle_timeout=0.3) as emulator:
        assert emulator.idle_timeout == 0.3
        emulator.idle_timeout = 60  # changeable while running; reset() restores 0.3
        emulator.reset()
        assert emulator.idle_timeout == 0.3
        with socket.create_connection((emulator.host, emulator.port), timeout=5) as sock:
            sock.sendall(get(auth))
            read_response(sock)
            started = time.monotonic()
            assert closed_by_server(sock)
            assert 0.25 <= time.monotonic() - started < 1
    with (
        run_in_thread(dcs_root, idle_timeout=None) as emulator,  # long-lived pools
        socket.create_connection((emulator.host, emulator.port), timeout=5) as sock,
    ):
        sock.sendall(get(auth))
        read_response(sock)
        assert not closed_by_server(sock, within=0.5)


# --- closed after 304 and 500, silently -------------------------------------


def test_a_304_closes_the_connection_without_saying_so(emu: Emulator, auth: dict[str, str]) -> None:
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        sock.sendall(get(auth, extra=f'If-None-Match: "{md5(ELEVEN)}"\r\n'))
        raw = read_response(sock)
        assert closed_by_server(sock)
    status, headers, body = split_response(raw)
    assert status == 304
    assert headers == {
        "server": headers["server"],
        "date": headers["date"],
        "etag": f'"{md5(ELEVEN)}"',
        "cache-control": "public, max-age=86400",  # not the type's "immutable"
        "content-type": "application/json",
    }  # no Content-Length, no Connection: close
    assert body == b""
    assert emu.stats.closes_after_304 == 1


@pytest.mark.parametrize(
    ("setup", "path"),
    [
        ("non-latin-1 name", "%C3%9Cnite%201/%C5%9Fark%C4%B1.mp3"),
        ("status fault", "eleven.mp3"),
        ("store down", "eleven.mp3"),
    ],
)
def test_a_500_closes_the_connection_without_saying_so(
    emu: Emulator, auth: dict[str, str], setup: str, path: str
) -> None:
    if setup == "status fault":
        emu.faults.status = 500
    else:
        emu.faults.store_down, emu.faults.store_down_delay = True, 0.1
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        sock.sendall(get(auth, path=path))
        raw = read_response(sock)
        assert closed_by_server(sock)
    status, headers, body = split_response(raw)
    assert status == 500
    assert body == b"Internal Server Error"
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert "connection" not in headers
    assert emu.stats.closes_after_500 == 1


def test_other_errors_keep_the_connection(emu: Emulator, auth: dict[str, str]) -> None:
    emu.faults.status = 502
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        for extra in ("", "Range: bytes=99-\r\n"):
            sock.sendall(get(auth, extra=extra))
            assert b" 502 " in read_response(sock)[:20]
        emu.faults.status = None
        for path, extra in (("nope.mp3", ""), ("eleven.mp3", "Range: bytes=99-\r\n")):
            sock.sendall(get(auth, path=path, extra=extra))
            read_response(sock)
        assert not closed_by_server(sock, within=0.2)
    assert [r.status for r in emu.stats.requests] == [502, 502, 404, 416]
    assert emu.stats.connections_opened == 1


def test_http_1_0_is_answered_and_closed_even_with_keep_alive(
    emu: Emulator, auth: dict[str, str]
) -> None:
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        sock.sendall(
            b"GET /storage/books/Pub/Book/object?path=eleven.mp3 HTTP/1.0\r\n"
            + f"Authorization: {auth['Authorization']}\r\nConnection: keep-alive\r\n\r\n".encode()
        )
        raw = read_response(sock)
        assert closed_by_server(sock)
    assert raw.endswith(ELEVEN)
    assert b"\r\nConnection: close\r\n" in raw
