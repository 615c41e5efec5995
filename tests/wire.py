"""Raw HTTP helpers for tests that need what `requests` hides (short reads, HEAD bodies)."""

import http.client
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
