"""Raw HTTP helpers for tests that need what `requests` hides (short reads, HEAD bodies)."""

import http.client
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit


def media_path(book, path: str) -> str:
    return f"/api/v1/books/{book.pk}/media/{quote(path)}"


@dataclass
class RawResponse:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    complete: bool  # False when the connection ended before Content-Length bytes


def fetch_raw(
    server, method: str, path: str, headers: dict[str, str], timeout: float = 10
) -> RawResponse:
    """One request on a fresh connection; reads the body to EOF and reports a short read."""
    url = urlsplit(server.base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in {"Connection": "close", **headers}.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        try:
            body = response.read()
            complete = True
        except http.client.IncompleteRead as error:
            body, complete = error.partial, False
        return RawResponse(response.status, response.headers, body, complete)
    finally:
        connection.close()


def open_player(
    server, path: str, headers: dict[str, str], timeout: float = 10
) -> tuple[socket.socket, bytes]:
    """A player that sends GET `path` and stops reading after the status line: the
    server's stream stays open, its bytes waiting (a small receive window, set before
    connecting). Returns the socket and the status line's first 12 bytes (fewer if none
    came within `timeout`)."""
    address = urlsplit(server.base_url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(timeout)
    sock.connect((address.hostname, address.port))
    lines = [f"GET {path} HTTP/1.1", f"Host: {address.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    try:
        while len(head) < 12 and (chunk := sock.recv(12 - len(head))):
            head += chunk
    except TimeoutError:
        pass
    return sock, head


def eventually(check: Callable[[], object], within: float, every: float = 0.05) -> object:
    """`check()`'s first true value within `within` seconds, else its last (false) one."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(every)
