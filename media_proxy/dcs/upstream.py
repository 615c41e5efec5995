"""A streamed DCS answer handed to the caller: raw body bytes, then back to the pool."""

from __future__ import annotations

import http.client
import logging
from collections.abc import Iterator, Mapping
from types import TracebackType

import requests
import urllib3.exceptions

from media_proxy.dcs.errors import DCSUnavailable

logger = logging.getLogger(__name__)

# Errors that a cut, reset or stalled body raises from urllib3's raw.read().
_BODY_ERRORS = (
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    requests.RequestException,
    OSError,
)


class UpstreamResponse:
    """A streamed DCS answer. Always close() it (also usable as a context manager)."""

    def __init__(self, response: requests.Response) -> None:
        self._response = response
        self.status: int = response.status_code
        self.headers: Mapping[str, str] = response.headers
        self._consumed = 0
        self._eof = False
        self._closed = False

    def __enter__(self) -> UpstreamResponse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<UpstreamResponse {self.status} read={self._consumed} closed={self._closed}>"

    def _read(self, amount: int) -> bytes:
        """Up to `amount` bytes: what has arrived, without waiting for `amount` (read1), so
        a large chunk size costs no latency when DCS sends slowly."""
        try:
            chunk = self._response.raw.read1(amount, decode_content=False)
        except _BODY_ERRORS as exc:
            raise DCSUnavailable(
                f"DCS body broke off after {self._consumed} bytes: {type(exc).__name__}: {exc}"
            ) from exc
        if chunk:
            self._consumed += len(chunk)
        else:
            self._eof = True
        return chunk

    def iter_body(self, chunk_size: int) -> Iterator[bytes]:
        """Yield the raw body bytes until EOF; a cut or stalled body raises DCSUnavailable."""
        while not self._closed and not self._eof:
            chunk = self._read(chunk_size)
            if chunk:
                yield chunk

    def _remaining(self) -> int | None:
        """Bytes still expected according to Content-Length, or None if unknown."""
        if self._eof:
            return 0
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return None
        if length < 0:
            return None
        return max(length - self._consumed, 0)

    def close(self) -> None:
        """Release the connection: back to the pool if the body was fully read, else closed."""
        if self._closed:
            return
        self._closed = True
        try:
            self._response.close()
        except Exception:  # closing must never fail the caller
            logger.debug("Error while closing a DCS response", exc_info=True)

    def release(self, drain_limit: int = 64 * 1024) -> None:
        """Like close(), but drain a small remainder first so the connection can be reused."""
        if self._closed:
            return
        remaining = self._remaining()
        if remaining is not None and remaining <= drain_limit:
            drained = 0
            try:
                while not self._eof and drained <= drain_limit:
                    drained += len(self._read(min(max(remaining, 1), 64 * 1024)))
            except DCSUnavailable:
                logger.debug("DCS body broke off while draining it", exc_info=True)
        self.close()
