"""The server itself: keep-alive, counters, request log, control endpoints, CLI."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from dcs_emulator import Emulator, run_in_thread

from .conftest import ELEVEN, login, object_url

pytestmark = pytest.mark.wire

REPO = Path(__file__).resolve().parents[2]


def test_keep_alive_one_connection_for_many_requests(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    token = login(emu)  # on its own connection (plain requests.post)
    emu.reset()
    etag = http.get(object_url(emu), params={"path": "eleven.mp3"}, headers=auth).headers["ETag"]
    for index in range(3):
        http.get(object_url(emu), params={"path": "eleven.mp3"}, headers=auth)
        http.get(
            object_url(emu),
            params={"path": "eleven.mp3"},
            headers={**auth, "Range": f"bytes={index}-"},
        )
    http.get(object_url(emu), params={"path": "nope"}, headers=auth)  # 404
    http.get(object_url(emu), params={"path": "eleven.mp3"}, headers={**auth, "Range": "x"})
    http.head(object_url(emu), params={"path": "eleven.mp3"})  # 405 without a body
    http.post(f"{emu.base_url}/auth/login", json={"email": "lms@dcs.local", "password": "x"})
    http.get(f"{emu.base_url}/storage/books/Pub/Book", headers={"Authorization": f"Bearer {token}"})
    records = emu.stats.requests
    assert len(records) == emu.stats.request_count == 12
    assert [r.status for r in records][-5:] == [404, 416, 405, 401, 200]
    assert emu.stats.connections_opened == 1
    assert len({record.connection_id for record in records}) == 1
    # a 304 (like a 500) ends the connection: the next request needs a new one
    http.get(
        object_url(emu), params={"path": "eleven.mp3"}, headers={**auth, "If-None-Match": etag}
    )
    # The close races a request sent at once, as with uvicorn (the client then sees
    # "RemoteDisconnected"); once the FIN is in, urllib3 notices and reconnects.
    time.sleep(0.1)
    http.get(object_url(emu), params={"path": "eleven.mp3"}, headers=auth)
    assert [r.status for r in emu.stats.requests][-2:] == [304, 200]
    assert emu.stats.connections_opened == 2


def test_ten_requests_one_session_one_connection(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    for _ in range(10):
        assert http.get(object_url(emu), params={"path": "eleven.mp3"}, headers=auth).ok
    assert emu.stats.connections_opened == 1
    assert emu.stats.tcp_accepts == 1
    with requests.Session() as other:
        other.get(object_url(emu), params={"path": "eleven.mp3"}, headers=auth)
    assert emu.stats.connections_opened == 2


def test_connection_close_is_honoured(emu: Emulator, auth: dict[str, str]) -> None:
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        sock.sendall(
            b"GET /storage/books/Pub/Book/object?path=eleven.mp3 HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: {auth['Authorization']}\r\nConnection: close\r\n\r\n".encode()
        )
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    assert received.endswith(b"\r\n\r\n" + ELEVEN)
    assert b"Connection: close" in received


def test_counters(emu: Emulator, http: requests.Session, auth: dict[str, str]) -> None:
    emu.reset()  # the auth fixture logged in
    http.get(object_url(emu), params={"path": "eleven.mp3"}, headers=auth)
    http.get(object_url(emu), params={"path": "eleven.mp3"})  # 403 still counts
    http.head(object_url(emu), params={"path": "eleven.mp3"})
    http.get(f"{emu.base_url}/storage/books/Pub/Book", headers=auth)
    http.post(f"{emu.base_url}/auth/login", json={"email": "x", "password": "y"})
    http.get(f"{emu.base_url}/nowhere")
    stats = emu.stats
    assert (stats.object_requests, stats.listing_requests, stats.logins) == (3, 1, 1)
    assert stats.request_count == 6
    emu.reset()
    assert (stats.request_count, stats.object_requests, stats.connections_opened) == (0, 0, 0)
    assert stats.requests == []


def test_request_records(emu: Emulator, http: requests.Session, auth: dict[str, str]) -> None:
    emu.reset()
    before = time.time()
    http.get(
        object_url(emu),
        params={"path": "Ünite 1/müzik.mp3"},
        headers={**auth, "Range": "bytes=0-3", "Cookie": "sessionid=abc"},
    )
    (record,) = emu.stats.requests
    assert record.method == "GET"
    assert record.path == "/storage/books/Pub/Book/object"
    assert record.query == {"path": "Ünite 1/müzik.mp3"}
    assert record.query_string == "path=%C3%9Cnite+1%2Fm%C3%BCzik.mp3"
    assert record.headers["range"] == "bytes=0-3"  # case-insensitive
    assert record.headers.get("COOKIE") == "sessionid=abc"
    assert record.headers["Authorization"] == auth["Authorization"]
    assert "X-Forwarded-For" not in record.headers
    assert record.status == 206
    assert record.bytes_sent == 4
    assert before <= record.started_at <= record.finished_at <= time.time()
    assert record.client.startswith("127.0.0.1:")


def test_requests_are_served_concurrently(emu: Emulator, auth: dict[str, str]) -> None:
    emu.faults.stall_before_headers = 1.0  # objects only
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(
            requests.get, object_url(emu), params={"path": "eleven.mp3"}, headers=auth, timeout=5
        )
        started = time.monotonic()
        fast = requests.get(f"{emu.base_url}/storage/books/Pub/Book", headers=auth, timeout=5)
        fast_took = time.monotonic() - started
        assert fast.status_code == 200
        assert fast_took < 0.5
        assert slow.result().content == ELEVEN


# --- control endpoints ------------------------------------------------------


def test_http_control(emu: Emulator, auth: dict[str, str]) -> None:
    control = requests.Session()
    emu.reset()
    response = control.post(f"{emu.base_url}/_emulator/faults", json={"status": 502})
    assert response.status_code == 200
    assert response.json()["status"] == 502
    assert emu.faults.status == 502
    assert (emu.stats.tcp_accepts, emu.stats.connections_opened) == (1, 0)  # control only
    got = requests.get(object_url(emu), params={"path": "eleven.mp3"}, headers=auth, timeout=5)
    assert got.status_code == 502
    control.post(
        f"{emu.base_url}/_emulator/faults",
        json={"status": None, "stall_after_bytes": [10, 0.25], "ignore_range": True},
    )
    assert emu.faults.status is None
    assert emu.faults.stall_after_bytes == (10, 0.25)
    assert control.get(f"{emu.base_url}/_emulator/faults").json()["stall_after_bytes"] == [10, 0.25]

    stats = control.get(f"{emu.base_url}/_emulator/stats").json()
    assert stats["requests"] == 1  # control requests are not counted
    assert stats["object_requests"] == 1
    assert stats["connections_opened"] == 1
    assert stats["logins"] == 0
    assert stats["listing_requests"] == 0
    (record,) = stats["records"]
    assert record["status"] == 502
    assert record["query"] == {"path": "eleven.mp3"}
    assert record["headers"]["Authorization"] == auth["Authorization"]

    assert control.post(f"{emu.base_url}/_emulator/reset").status_code == 200
    assert emu.faults == type(emu.faults)()
    assert emu.stats.request_count == 0

    token = login(emu)
    assert control.post(f"{emu.base_url}/_emulator/expire-tokens").status_code == 200
    expired = requests.get(
        object_url(emu),
        params={"path": "eleven.mp3"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert expired.status_code == 401
    assert emu.stats.connections_opened == 2  # the two plain requests, not the control session
    control.close()


@pytest.mark.parametrize(
    "body", [{"nope": 1}, {"status": "500"}, {"stall_after_bytes": 5}, [1, 2], "x"]
)
def test_http_control_rejects_bad_faults(emu: Emulator, body: object) -> None:
    response = requests.post(f"{emu.base_url}/_emulator/faults", json=body, timeout=5)
    assert response.status_code == 400
    assert emu.faults == type(emu.faults)()


def test_stats_keep_only_the_last_200_records(emu: Emulator, http: requests.Session) -> None:
    for _ in range(205):
        http.get(f"{emu.base_url}/nowhere")
    stats = http.get(f"{emu.base_url}/_emulator/stats").json()
    assert stats["requests"] == 205
    assert len(stats["records"]) == 200
    assert len(emu.stats.requests) == 205


# --- lifecycle --------------------------------------------------------------


def test_stop_closes_listener_and_open_connections(dcs_root: Path) -> None:
    emulator = run_in_thread(dcs_root)
    port = emulator.port
    session = requests.Session()
    token = login(emulator)
    headers = {"Authorization": f"Bearer {token}"}
    assert session.get(object_url(emulator), params={"path": "eleven.mp3"}, headers=headers).ok
    started = time.monotonic()
    emulator.stop()
    assert time.monotonic() - started < 2
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(object_url(emulator), params={"path": "eleven.mp3"}, headers=headers)
    session.close()
    assert not [t for t in threading.enumerate() if t.name == f"dcs-emulator:{port}"]


def test_cli_serves_and_logs(dcs_root: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dcs_emulator",
            "--root",
            str(dcs_root),
            "--port",
            "0",
            "--email",
            "cli@dcs.local",
            "--password",
            "cli-pass",
            "--token-lifetime",
            "60",
        ],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 15
        base_url = None
        while base_url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line and process.poll() is not None:
                break
            if match := re.search(r"(http://127\.0\.0\.1:\d+)", line):
                base_url = match.group(1)
        assert base_url, "the emulator did not announce its address"
        response = requests.post(
            f"{base_url}/auth/login",
            json={"email": "CLI@dcs.local ", "password": "cli-pass"},
            timeout=5,
        )
        assert response.status_code == 200
        token = response.json()["access_token"]
        got = requests.get(
            f"{base_url}/storage/books/Pub/Book/object",
            params={"path": "eleven.mp3"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        assert got.content == ELEVEN
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "POST /auth/login -> 200" in stderr
    assert "GET /storage/books/Pub/Book/object?path=eleven.mp3 -> 200, 11 bytes" in stderr
