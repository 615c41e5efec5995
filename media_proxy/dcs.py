"""HTTP client for Dream Central Storage (DCS).

Knows HTTP and the DCS HTTP contract (dcs-contract.md), nothing about users or
books' access rules. One process-wide :class:`DCSClient` (see
:func:`get_dcs_client`) shares a pooled ``requests.Session`` between threads and
keeps the DCS token in the Django cache, shared by all worker processes.
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import logging
import math
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from types import TracebackType
from typing import Any, NoReturn
from urllib.parse import quote

import requests
import urllib3.exceptions
from django.conf import settings
from django.core.cache import cache as django_cache
from django.core.cache.backends.base import BaseCache
from requests.adapters import HTTPAdapter

from media_proxy.cache_keys import cache_key

logger = logging.getLogger(__name__)

#: Statuses handed back to the caller; every other one is raised.
PASSTHROUGH_STATUSES = frozenset({200, 206, 416})

TOKEN_SAFETY_MARGIN = 60  # seconds before the JWT's exp at which the token is dropped
TOKEN_FALLBACK_TTL = 300  # seconds, when the JWT's exp cannot be read
LOGIN_LOCK_TIMEOUT = 10  # seconds the cross-process login lock lives at most
LOGIN_WAIT = 5.0  # seconds to wait for another process's login before logging in ourselves
LOGIN_POLL_INTERVAL = 0.05
ERROR_BODY_LIMIT = 4096  # bytes of an error answer read for its detail

# Process-wide: one login at a time per process (single-flight, see DCSClient._refresh_token).
_LOGIN_LOCK = threading.Lock()

# Errors that a cut, reset or stalled body raises from urllib3's raw.read().
_BODY_ERRORS = (
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    requests.RequestException,
    OSError,
)


class DCSError(Exception):
    """Base class; ``str()`` is a clear message without secrets."""


class DCSNotFound(DCSError):
    """DCS answered 404 (object or book missing)."""


class DCSUnavailable(DCSError):
    """DCS failed: 5xx, connection refused/reset, unexpected status or answer (-> 502)."""


class DCSTimeout(DCSError):
    """Connect or read timeout before the response headers (-> 504)."""


class DCSAuthError(DCSUnavailable):
    """Login refused or failed, 403, or still 401 after one re-login (-> 502)."""


class UnservableName(DCSError):
    """A publisher or book name DCS cannot address: the LMS's data, not a DCS failure.

    Nothing is sent to DCS."""


@dataclass(frozen=True)
class DCSFile:
    """A file of a book; ``path`` is relative to the book folder."""

    path: str
    size: int


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


class DCSClient:
    """Talks to DCS: logs in, keeps the token, reads objects and lists books."""

    def __init__(
        self,
        base_url: str,
        email: str,
        password: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        pool_size: int,
        cache: BaseCache,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._email = email
        self._password = password
        self._timeout = (connect_timeout, read_timeout)
        self._cache = cache
        if session is None:
            session = requests.Session()
            # DCS is an internal service: no proxies/.netrc from the environment (a
            # ~/.netrc entry would even replace our Authorization header) and no cookies.
            session.trust_env = False
            session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            adapter = HTTPAdapter(
                pool_connections=4, pool_maxsize=pool_size, pool_block=False, max_retries=0
            )
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self.session = session
        account = (self.base_url, email.strip().lower())
        self._token_key = cache_key("dcs:token", *account)
        self._lock_key = cache_key("dcs:login-lock", *account)
        # Per-process copy of the cached token: (token, wall-clock time it is dropped).
        self._local: tuple[str, float] | None = None
        # (monotonic time, cause) of the last failed login, shared with threads that waited for it.
        self._last_login_failure: tuple[float, str] | None = None

    def __repr__(self) -> str:
        return f"<DCSClient {self.base_url}>"

    # --- public API ----------------------------------------------------------------

    def get_object(
        self, publisher: str, book_name: str, path: str, *, range_header: str | None = None
    ) -> UpstreamResponse:
        """Stream ``path`` of a book; 200/206/416 come back, anything else is raised."""
        url = f"{self._book_url(publisher, book_name)}/object"
        headers = {"Range": range_header} if range_header is not None else None
        what = f"object {publisher}/{book_name}:{path}"
        response = self._get(url, what, params={"path": path}, headers=headers, stream=True)
        if response.status_code in PASSTHROUGH_STATUSES:
            return UpstreamResponse(response)
        self._raise_for_status(response, what)

    def list_book(self, publisher: str, book_name: str) -> list[DCSFile]:
        """All files of a book (folders flattened away), sorted by path."""
        what = f"listing of {publisher}/{book_name}"
        response = self._get(self._book_url(publisher, book_name), what, stream=True)
        try:
            if response.status_code != 200:
                self._raise_for_status(response, what)
            try:
                tree = response.json()
            except (ValueError, requests.RequestException) as exc:
                raise DCSUnavailable(f"DCS sent a malformed {what}: {exc}") from exc
        finally:
            response.close()
        return self._flatten(tree, f"{publisher}/books/{book_name}/", what)

    def login(self) -> str:
        """Log in to DCS, store the token in the cache and return it."""
        try:
            response = self.session.post(
                f"{self.base_url}/auth/login",
                json={"email": self._email, "password": self._password},
                headers={"Accept-Encoding": "identity"},
                timeout=self._timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            self._login_failed(f"{type(exc).__name__} talking to {self.base_url}")
        try:
            if response.status_code != 200:
                self._login_failed(f"HTTP {response.status_code} ({self._detail(response)})")
            try:
                token = response.json()["access_token"]
            except (ValueError, KeyError, TypeError, requests.RequestException):
                token = None
            if not isinstance(token, str) or not token:
                self._login_failed("the answer holds no access_token")
        finally:
            response.close()
        ttl = _token_ttl(token, time.time())
        self._cache_call("set", self._token_key, token, ttl)
        self._local = (token, time.time() + ttl)
        logger.info("Logged in to DCS at %s; token kept for %s s", self.base_url, ttl)
        return token

    # --- requests --------------------------------------------------------------------

    def _book_url(self, publisher: str, book_name: str) -> str:
        return f"{self.base_url}/storage/books/{_segment(publisher)}/{_segment(book_name)}"

    def _get(
        self,
        url: str,
        what: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        stream: bool,
    ) -> requests.Response:
        """GET with the bearer token; on 401 log in again (once) and retry once."""
        token = self._token()
        response = self._send(url, what, token, params=params, headers=headers, stream=stream)
        if response.status_code != 401:
            return response
        response.close()
        logger.info("DCS answered 401 to the %s; renewing the token", what)
        token = self._refresh_token(stale=token)
        response = self._send(url, what, token, params=params, headers=headers, stream=stream)
        if response.status_code == 401:
            detail = self._detail(response)
            response.close()
            logger.error("DCS still answers 401 after a fresh login (%s) to the %s", detail, what)
            raise DCSAuthError(f"DCS rejected a fresh token (HTTP 401: {detail}) for the {what}")
        return response

    def _send(
        self,
        url: str,
        what: str,
        token: str,
        *,
        params: dict[str, str] | None,
        headers: dict[str, str] | None,
        stream: bool,
    ) -> requests.Response:
        all_headers = {"Accept-Encoding": "identity", "Authorization": f"Bearer {token}"}
        if headers:
            all_headers.update(headers)
        try:
            return self.session.get(
                url,
                params=params,
                headers=all_headers,
                timeout=self._timeout,
                allow_redirects=False,
                stream=stream,
            )
        except requests.Timeout as exc:  # ConnectTimeout and ReadTimeout (before the headers)
            kind = "connect" if isinstance(exc, requests.ConnectTimeout) else "read"
            raise DCSTimeout(f"DCS {kind} timeout for the {what}") from exc
        except requests.RequestException as exc:
            raise DCSUnavailable(
                f"DCS unreachable for the {what}: {type(exc).__name__}: {exc}"
            ) from exc

    def _raise_for_status(self, response: requests.Response, what: str) -> NoReturn:
        """Close an unwanted answer and raise the matching DCSError."""
        status = response.status_code
        detail = self._detail(response)
        response.close()
        if status == 404:
            raise DCSNotFound(f"DCS has no {what} (HTTP 404: {detail})")
        if status == 403:
            logger.error("DCS refused our credentials (HTTP 403: %s) for the %s", detail, what)
            raise DCSAuthError(f"DCS refused our credentials (HTTP 403: {detail}) for the {what}")
        if status in (400, 422):
            logger.warning(
                "DCS rejected our request (HTTP %s: %s) for the %s", status, detail, what
            )
            raise DCSUnavailable(
                f"DCS rejected the request for the {what} (HTTP {status}: {detail})"
            )
        raise DCSUnavailable(f"DCS answered HTTP {status} ({detail}) for the {what}")

    def _detail(self, response: requests.Response) -> str:
        """A short, secret-free description of an error answer's body."""
        try:
            body = next(response.iter_content(ERROR_BODY_LIMIT), b"")
        except requests.RequestException:
            return "unreadable body"
        try:
            detail: Any = json.loads(body)["detail"]
        except (ValueError, KeyError, TypeError):
            detail = body.decode("utf-8", "replace").strip() or "empty body"
        if isinstance(detail, list):  # FastAPI validation errors; never echo their "input"
            detail = "; ".join(
                f"{'.'.join(map(str, item.get('loc', ())))}: {item.get('msg', '?')}"
                if isinstance(item, dict)
                else "?"
                for item in detail
            )
        text = str(detail)
        for secret in (self._password, self._email, *(self._local or ())[:1]):
            if isinstance(secret, str) and secret:
                text = re.sub(re.escape(secret), "***", text, flags=re.IGNORECASE)
        return text[:300]

    @staticmethod
    def _flatten(tree: Any, prefix: str, what: str) -> list[DCSFile]:
        files: list[DCSFile] = []
        stack = [tree]
        while stack:
            node = stack.pop()
            if not isinstance(node, dict):
                raise DCSUnavailable(f"DCS sent a malformed {what}: a node is not an object")
            children = node.get("children") or []
            if not isinstance(children, list):
                raise DCSUnavailable(f"DCS sent a malformed {what}: children is not a list")
            stack.extend(children)
            if node.get("type") != "file":
                continue
            key, size = node.get("path"), node.get("size")
            if not isinstance(key, str) or not isinstance(size, int) or isinstance(size, bool):
                raise DCSUnavailable(f"DCS sent a malformed {what}: bad file entry")
            if not key.startswith(prefix) or key == prefix:
                logger.warning("Skipping %r in the DCS %s: not under %r", key, what, prefix)
                continue
            files.append(DCSFile(path=key[len(prefix) :], size=size))
        files.sort(key=lambda f: f.path)
        return files

    # --- token -----------------------------------------------------------------------

    def authorization(self) -> str:
        """The `Authorization` value for a DCS request made by someone else (nginx offload)."""
        return f"Bearer {self._token()}"

    def _token(self) -> str:
        """The current token: process copy, else the shared cache, else a (single-flight) login."""
        local = self._local
        if local is not None and local[1] > time.time():
            return local[0]
        token = self._cache_call("get", self._token_key)
        if isinstance(token, str) and token:
            self._adopt(token)
            return token
        return self._refresh_token(stale=None)

    def _adopt(self, token: str) -> None:
        self._local = (token, time.time() + _token_ttl(token, time.time()))

    def _refresh_token(self, stale: str | None) -> str:
        """A token other than ``stale``; at most one login per process and (mostly) per cluster."""
        waiting_since = time.monotonic()
        with _LOGIN_LOCK:
            local = self._local
            if local is not None and local[0] != stale and local[1] > time.time():
                return local[0]  # another thread of this process already logged in
            failure = self._last_login_failure
            if failure is not None and failure[0] >= waiting_since:
                # The login this thread waited for failed: share its outcome, don't retry now.
                raise DCSAuthError(f"DCS login failed: {failure[1]}")
            token = self._fresh_cached(stale)
            if token is not None:
                return token
            owner = False
            deadline = time.monotonic() + LOGIN_WAIT
            while True:
                owner = self._cache_call("add", self._lock_key, 1, LOGIN_LOCK_TIMEOUT, default=True)
                if owner:
                    # The previous owner may have stored its token just before letting go.
                    token = self._fresh_cached(stale)
                    if token is not None:
                        self._cache_call("delete", self._lock_key)
                        return token
                    break
                token = self._fresh_cached(stale)
                if token is not None:
                    return token  # another process logged in
                if time.monotonic() >= deadline:
                    logger.warning("Another process holds the DCS login lock too long; logging in")
                    break
                time.sleep(LOGIN_POLL_INTERVAL)
            try:
                return self.login()
            finally:
                if owner:
                    self._cache_call("delete", self._lock_key)

    def _fresh_cached(self, stale: str | None) -> str | None:
        token = self._cache_call("get", self._token_key)
        if isinstance(token, str) and token and token != stale:
            self._adopt(token)
            return token
        return None

    def _cache_call(self, method: str, *args: Any, default: Any = None) -> Any:
        """Call the cache; if it is down, log and carry on (the process copy still works)."""
        try:
            return getattr(self._cache, method)(*args)
        except Exception as exc:
            logger.warning("Cache %s for the DCS token failed: %s", method, type(exc).__name__)
            return default

    def _login_failed(self, cause: str) -> NoReturn:
        logger.error("DCS login failed at %s: %s", self.base_url, cause)
        self._last_login_failure = (time.monotonic(), cause)
        raise DCSAuthError(f"DCS login failed: {cause}")


def _segment(value: str) -> str:
    """Percent-encode one URL path segment (a publisher or book name).

    Names DCS refuses with 400 (empty, ``.``, ``..``, with ``/`` or ``\\``) are refused here
    the same way: requests and urllib3 would otherwise normalise dot segments into another URL.
    """
    if value in ("", ".", "..") or "/" in value or "\\" in value:
        raise UnservableName(f"Invalid DCS publisher or book name {value!r}")
    return quote(value, safe="")


def _token_ttl(token: str, now: float) -> int:
    """Seconds to keep ``token``: its JWT exp minus a safety margin (no signature check)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return TOKEN_FALLBACK_TTL
    if not math.isfinite(exp):
        return TOKEN_FALLBACK_TTL
    return max(1, int(exp - now - TOKEN_SAFETY_MARGIN))


@functools.cache
def get_dcs_client() -> DCSClient:
    """The process-wide client, built from settings on first use."""
    return DCSClient(
        settings.DCS_BASE_URL,
        settings.DCS_EMAIL,
        settings.DCS_PASSWORD,
        connect_timeout=settings.DCS_CONNECT_TIMEOUT,
        read_timeout=settings.DCS_READ_TIMEOUT,
        pool_size=settings.DCS_POOL_SIZE,
        cache=django_cache,
    )
