"""Each fault switch, observed from a real client."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from dcs_emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, Emulator, Faults, run_in_thread

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
        store_down=False,
        store_down_delay=6.0,  # the contract's "about 6 seconds"
        store_latency=0.0,
        store_blocks_loop=False,
        hang_all=False,
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
    if status == 500:
        time.sleep(0.1)  # a 500 closes the connection: let the FIN arrive before reusing it
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
    emu.faults.store_down = emu.faults.hang_all = emu.faults.store_blocks_loop = True
    emu.faults.store_down_delay = emu.faults.store_latency = 0.1
    emu.reset()
    assert emu.faults == Faults()


# --- the object store: down, slow, blocking DCS's event loop ----------------


def timed(call: object, *args: object, **kwargs: object) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = call(*args, timeout=10, **kwargs)  # type: ignore[operator]
    return response, time.monotonic() - started


def do_login(emu: Emulator, timeout: float = 10) -> requests.Response:
    return requests.post(
        f"{emu.base_url}/auth/login",
        json={"email": DEFAULT_EMAIL, "password": DEFAULT_PASSWORD},
        timeout=timeout,
    )


def test_store_down_is_a_slow_plain_500_and_login_still_works(
    emu: Emulator, auth: dict[str, str]
) -> None:
    emu.faults.store_down = True
    emu.faults.store_down_delay = 0.6
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(
            timed, requests.get, object_url(emu), params={"path": "eleven.mp3"}, headers=auth
        )
        time.sleep(0.1)
        login, login_took = timed(do_login, emu)
        response, took = slow.result()
    assert login.status_code == 200
    assert login_took < 0.4
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert 0.55 <= took < 2
    # every store read fails so: listings too; auth and path checks still come first
    listing, took = timed(requests.get, f"{emu.base_url}/storage/books/Pub/Book", headers=auth)
    assert (listing.status_code, listing.text) == (500, "Internal Server Error")
    assert took >= 0.55
    unauthenticated, took = timed(requests.get, object_url(emu), params={"path": "eleven.mp3"})
    assert unauthenticated.status_code == 403
    assert took < 0.3
    assert emu.stats.closes_after_500 == 2


def test_store_latency_slows_store_reads_only(emu: Emulator, auth: dict[str, str]) -> None:
    emu.faults.store_latency = 0.6
    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(
            timed, requests.get, object_url(emu), params={"path": "eleven.mp3"}, headers=auth
        )
        time.sleep(0.1)
        login, login_took = timed(do_login, emu)
        response, took = slow.result()
    assert response.content == ELEVEN
    assert took >= 0.55
    assert login.ok
    assert login_took < 0.4  # the loop is not blocked without store_blocks_loop


@pytest.mark.parametrize("store", ["down", "slow"])
def test_store_blocks_loop_stalls_every_request(
    emu: Emulator, auth: dict[str, str], store: str
) -> None:
    if store == "down":
        emu.faults.store_down, emu.faults.store_down_delay = True, 0.8
    else:
        emu.faults.store_latency = 0.8
    emu.faults.store_blocks_loop = True
    with ThreadPoolExecutor(max_workers=4) as pool:
        waiting = pool.submit(
            timed, requests.get, object_url(emu), params={"path": "eleven.mp3"}, headers=auth
        )
        time.sleep(0.2)  # it now waits on the store, holding the loop
        others = [
            pool.submit(timed, do_login, emu),
            pool.submit(
                timed, requests.get, f"{emu.base_url}/storage/books/Pub/Book", headers=auth
            ),
            pool.submit(timed, requests.get, f"{emu.base_url}/nowhere"),
        ]
        # the control endpoints are not DCS: they answer at once
        assert requests.get(f"{emu.base_url}/_emulator/faults", timeout=1).ok
        first, _ = waiting.result()
        results = [future.result() for future in others]
    assert first.status_code == (500 if store == "down" else 200)
    login, listing, not_found = (response for response, _ in results)
    assert (login.status_code, not_found.status_code) == (200, 404)
    assert listing.status_code == first.status_code  # a store read as well
    for _, took in results:
        assert took >= 0.45  # stalled until the store call returned (0.8 s after it began)


def test_store_blocks_loop_stalls_bodies_in_flight(emu: Emulator, auth: dict[str, str]) -> None:
    emu.faults.stall_after_bytes = (50_000, 0.3)  # a body is on its way when the loop blocks
    emu.faults.store_blocks_loop = True
    emu.faults.store_latency = 1.0
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        sock.sendall(raw_get(emu, auth, "big.bin"))
        received = sock.recv(65536)
        emu.faults.stall_after_bytes = None
        blocker = threading.Thread(
            target=requests.get,
            args=(object_url(emu),),
            kwargs={"params": {"path": "eleven.mp3"}, "headers": auth, "timeout": 5},
        )
        blocker.start()
        started = time.monotonic()
        while len(received.partition(b"\r\n\r\n")[2]) < len(BIG):
            received += sock.recv(65536)
        took = time.monotonic() - started
        blocker.join()
    assert received.endswith(BIG)
    assert took >= 0.6  # the rest waited for the store call (1 s, from about 0.3 s into it)


def test_store_switches_over_http(emu: Emulator) -> None:
    values = {
        "store_down": True,
        "store_down_delay": 0.5,
        "store_latency": 0.25,
        "store_blocks_loop": True,
        "hang_all": False,
    }
    response = requests.post(f"{emu.base_url}/_emulator/faults", json=values, timeout=5)
    assert response.status_code == 200
    assert {name: response.json()[name] for name in values} == values
    for bad in ({"store_down": 1}, {"store_down_delay": -1}, {"hang_all": "yes"}):
        response = requests.post(f"{emu.base_url}/_emulator/faults", json=bad, timeout=5)
        assert response.status_code == 400


# --- hang_all ---------------------------------------------------------------


def test_hang_all_answers_nothing_until_cleared(emu: Emulator, auth: dict[str, str]) -> None:
    emu.faults.hang_all = True
    with ThreadPoolExecutor(max_workers=4) as pool:
        calls: list[Future] = [
            pool.submit(do_login, emu),
            pool.submit(
                requests.get, f"{emu.base_url}/storage/books/Pub/Book", headers=auth, timeout=10
            ),
            pool.submit(
                requests.get,
                object_url(emu),
                params={"path": "eleven.mp3"},
                headers=auth,
                timeout=10,
            ),
            pool.submit(requests.get, f"{emu.base_url}/nowhere", timeout=10),
        ]
        time.sleep(0.6)
        assert not any(call.done() for call in calls)
        assert len(emu.stats.requests) == 4  # read and logged, not answered
        assert {record.status for record in emu.stats.requests} == {None}
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(object_url(emu), params={"path": "eleven.mp3"}, timeout=0.3)
        # cleared over HTTP: the control endpoints never hang
        cleared = requests.post(f"{emu.base_url}/_emulator/faults", json={"hang_all": False})
        assert cleared.status_code == 200
        started = time.monotonic()
        statuses = [call.result().status_code for call in calls]
        assert time.monotonic() - started < 0.5
    assert statuses == [200, 200, 200, 404]


def _request_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "process_request_thread" in t.name}


def test_stop_works_while_requests_hang(dcs_root: Path) -> None:
    before = _request_threads()
    emulator = run_in_thread(dcs_root)
    token = emulator.issue_token()
    emulator.faults.hang_all = True
    hung = [socket.create_connection((emulator.host, emulator.port), timeout=5) for _ in range(3)]
    for sock in hung:
        sock.sendall(raw_get(emulator, {"Authorization": f"Bearer {token}"}, "eleven.mp3"))
    time.sleep(0.2)
    assert len(_request_threads() - before) == 3
    started = time.monotonic()
    emulator.stop()
    assert time.monotonic() - started < 2
    for sock in hung:
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(1024) == b""  # closed, never answered
        sock.close()
    deadline = time.monotonic() + 1
    while _request_threads() - before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _request_threads() - before  # the hung requests gave up
