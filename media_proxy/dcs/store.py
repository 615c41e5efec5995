"""Reading objects straight from DCS's object store, with presigned URLs (docs/dcs.md).

A presigned URL is a bearer credential for one object: it never goes into a
log line, an exception's text or a response. The store's Range support is
S3's, not DCS's: single ranges with the end clamped to the object, and a 416
that names no size; `ObjectStoreClient` answers such a 416 the way DCS does
(`bytes */N`, with the ETag) so the planner sees one contract.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from types import TracebackType

import requests

from media_proxy.dcs.breaker import CircuitBreaker, guarded
from media_proxy.dcs.connections import dcs_session, prepare_get
from media_proxy.dcs.errors import DCSError, DCSNotFound, DCSTimeout, DCSUnavailable
from media_proxy.dcs.upstream import UpstreamResponse

logger = logging.getLogger(__name__)

_LAST_BYTE = re.compile(r"bytes [0-9]+-[0-9]+/([0-9]{1,19})")


class StoreRefused(DCSError):
    """The store refused a presigned URL (403: expired or revoked; 404: no such object)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"The object store answered {status} to a presigned URL")
        self.status = status


class Unsatisfiable:
    """DCS's answer to an unsatisfiable range, made from what the store told: no body."""

    status = 416

    def __init__(self, size: int, etag: str | None) -> None:
        headers = {"Content-Range": f"bytes */{size}"}
        if etag:
            headers["ETag"] = etag
        self.headers: Mapping[str, str] = headers

    def __enter__(self) -> Unsatisfiable:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType
    ) -> None:
        pass

    def iter_body(self, chunk_size: int) -> Iterator[bytes]:
        return iter(())

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


class ObjectStoreClient:
    """GETs objects from the object store by presigned URL over a pooled session."""

    def __init__(
        self,
        *,
        connect_timeout: float,
        read_timeout: float,
        pool_size: int,
        session: requests.Session | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._timeout = (connect_timeout, read_timeout)
        self.session = session if session is not None else dcs_session(pool_size)
        self.breaker = breaker  # the store fails with DCS: one breaker for both

    def get(self, url: str, range_header: str | None) -> UpstreamResponse | Unsatisfiable:
        """The store's 200 or 206, or an `Unsatisfiable`; StoreRefused on 403/404."""
        response = self._send(url, range_header)
        if response.status_code in (200, 206):
            return UpstreamResponse(response)
        response.close()
        if response.status_code == 416 and range_header != "bytes=-1":
            return self._unsatisfiable(url)
        if response.status_code in (403, 404):
            raise StoreRefused(response.status_code)
        raise DCSUnavailable(f"The object store answered HTTP {response.status_code}")

    def _send(self, url: str, range_header: str | None) -> requests.Response:
        headers = {"Accept-Encoding": "identity"}
        if range_header is not None:
            headers["Range"] = range_header
        try:
            prepared = prepare_get(url, None, headers)
            return guarded(
                self.breaker,
                lambda: self.session.send(
                    prepared, timeout=self._timeout, allow_redirects=False, stream=True
                ),
            )
        except requests.Timeout as exc:
            kind = "connect" if isinstance(exc, requests.ConnectTimeout) else "read"
            raise DCSTimeout(f"Object store {kind} timeout") from None
        except requests.RequestException as exc:  # its text holds the URL: not passed on
            raise DCSUnavailable(f"Object store unreachable: {type(exc).__name__}") from None

    def _unsatisfiable(self, url: str) -> Unsatisfiable:
        """Learn the size and ETag from the last byte (a 0-byte object: its empty 200)."""
        with self.get(url, "bytes=-1") as last:
            match = _LAST_BYTE.fullmatch(last.headers.get("Content-Range") or "")
            length = last.headers.get("Content-Length") or ""
            if last.status == 206 and match:
                size = int(match[1])
            elif last.status == 200 and length == "0":
                size = 0
            else:
                raise DCSUnavailable("The object store answered a 416 it could not explain")
            etag = last.headers.get("ETag")
            last.release()
        return Unsatisfiable(size, etag)


def raise_for_refusal(error: StoreRefused) -> None:
    """What a refusal of a fresh presigned URL means to the caller."""
    if error.status == 404:
        raise DCSNotFound("The object store has no such object") from None
    raise DCSUnavailable("The object store refused a fresh presigned URL") from None
