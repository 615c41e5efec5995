"""DCSClient: objects and book listings over a pooled ``requests.Session`` shared by threads.

Knows HTTP and the DCS HTTP contract (docs/dcs.md), nothing about users or books' access
rules. :func:`get_dcs_client` gives the one process-wide client.
"""

from __future__ import annotations

import functools
import logging
import posixpath
from typing import Any, NoReturn
from urllib.parse import quote

import requests
from django.conf import settings
from django.core.cache import cache as django_cache
from django.core.cache.backends.base import BaseCache
from django.utils.translation import gettext_lazy as _

from media_proxy.dcs.breaker import CircuitBreaker, Ticket, guarded
from media_proxy.dcs.connections import GetTemplate, dcs_session
from media_proxy.dcs.errors import (
    DCSAuthError,
    DCSLoginTimeout,
    DCSNotFound,
    DCSTimeout,
    DCSUnavailable,
    PresignNotAllowed,
    UnservableName,
    error_detail,
)
from media_proxy.dcs.listing import DCSFile, flatten_listing
from media_proxy.dcs.tokens import TokenStore
from media_proxy.dcs.upstream import UpstreamResponse

logger = logging.getLogger(__name__)

#: Statuses handed back to the caller; every other one is raised.
PASSTHROUGH_STATUSES = frozenset({200, 206, 416})


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
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._gets = GetTemplate(self.base_url)
        self._email = email
        self._password = password
        self._timeout = (connect_timeout, read_timeout)
        self.session = session if session is not None else dcs_session(pool_size)
        self.breaker = breaker
        self.tokens = TokenStore(cache, self.base_url, email, login=self._fetch_token)

    def __repr__(self) -> str:
        return f"<DCSClient {self.base_url}>"

    def get_object(
        self,
        publisher: str,
        book_name: str,
        path: str,
        *,
        range_header: str | None = None,
        ticket: Ticket | None = None,
    ) -> UpstreamResponse:
        """Stream ``path`` of a book; 200/206/416 come back, anything else is raised.
        `ticket`: the breaker already admitted this read (`CircuitBreaker.admit`)."""
        endpoint = f"{self._book_path(publisher, book_name)}/object"
        if not serves_name(path):
            # DCS answers 500 after its lookup (its Content-Disposition is latin-1 only).
            raise UnservableName(
                _(
                    "The storage service cannot serve file names with letters outside Latin-1"
                    " (such as ş, ı, ğ or İ)."
                )
            )
        headers = {"Range": range_header} if range_header is not None else None
        what = f"object {publisher}/{book_name}:{path}"
        response = self._get(
            endpoint, what, params={"path": path}, headers=headers, stream=True, ticket=ticket
        )
        if response.status_code in PASSTHROUGH_STATUSES:
            return UpstreamResponse(response)
        self._raise_for_status(response, what)

    def list_book(self, publisher: str, book_name: str) -> list[DCSFile]:
        """All files of a book (folders flattened away), sorted by path."""
        what = f"listing of {publisher}/{book_name}"
        tree = self._get_json(self._book_path(publisher, book_name), what)
        return flatten_listing(tree, f"{publisher}/books/{book_name}/", what)

    def presigned_url(self, publisher: str, book_name: str, path: str, expires: int) -> str:
        """An object-store GET URL for ``path``, valid ``expires`` seconds: a credential.

        Needs a DCS admin account (PresignNotAllowed otherwise); works for any file name.
        """
        what = f"presigned URL of {publisher}/{book_name}:{path}"
        endpoint = f"{self._book_path(publisher, book_name)}/presigned"
        answer = self._get_json(endpoint, what, {"path": path, "expires": str(expires)})
        signed = answer.get("url") if isinstance(answer, dict) else None
        if not isinstance(signed, str) or not signed.startswith(("http://", "https://")):
            raise DCSUnavailable(f"DCS sent a malformed {what}")
        return signed

    def login(self) -> str:
        """Log in to DCS, store the token in the cache and return it."""
        return self.tokens.login()

    def authorization(self) -> str:
        """The `Authorization` value for a DCS request made by someone else (nginx offload)."""
        return f"Bearer {self.tokens.current()}"

    def _fetch_token(self) -> str:
        """POST our credentials to DCS and return the access token (TokenStore keeps it)."""
        try:
            response = guarded(
                self.breaker,
                lambda: self.session.post(
                    f"{self.base_url}/auth/login",
                    json={"email": self._email, "password": self._password},
                    headers={"Accept-Encoding": "identity"},
                    timeout=self._timeout,
                    allow_redirects=False,
                    stream=True,
                ),
            )
        except requests.RequestException as exc:
            timed_out = isinstance(exc, requests.Timeout)
            self._login_failed(f"{type(exc).__name__} talking to {self.base_url}", timed_out)
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
        return token

    def _login_failed(self, cause: str, timed_out: bool = False) -> NoReturn:
        logger.error("DCS login failed at %s: %s", self.base_url, cause)
        raise (DCSLoginTimeout if timed_out else DCSAuthError)(f"DCS login failed: {cause}")

    def _book_path(self, publisher: str, book_name: str) -> str:
        return f"/storage/books/{_segment(publisher)}/{_segment(book_name)}"

    def _get(
        self,
        path: str,
        what: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        stream: bool,
        ticket: Ticket | None = None,
    ) -> requests.Response:
        """GET with the bearer token; on 401 log in again (once) and retry once."""
        token = self.tokens.current()
        response = self._send(
            path, what, token, params=params, headers=headers, stream=stream, ticket=ticket
        )
        if response.status_code != 401:
            return response
        response.close()
        logger.info("DCS answered 401 to the %s; renewing the token", what)
        token = self.tokens.refresh(stale=token)
        response = self._send(path, what, token, params=params, headers=headers, stream=stream)
        if response.status_code == 401:
            detail = self._detail(response)
            response.close()
            logger.error("DCS still answers 401 after a fresh login (%s) to the %s", detail, what)
            raise DCSAuthError(f"DCS rejected a fresh token (HTTP 401: {detail}) for the {what}")
        return response

    def _send(
        self,
        path: str,
        what: str,
        token: str,
        *,
        params: dict[str, str] | None,
        headers: dict[str, str] | None,
        stream: bool,
        ticket: Ticket | None = None,
    ) -> requests.Response:
        all_headers = {"Accept-Encoding": "identity", "Authorization": f"Bearer {token}"}
        if headers:
            all_headers.update(headers)
        try:
            prepared = self._gets.get(path, params, all_headers)
            return guarded(
                self.breaker,
                lambda: self.session.send(
                    prepared, timeout=self._timeout, allow_redirects=False, stream=stream
                ),
                ticket,
            )
        except requests.Timeout as exc:  # ConnectTimeout and ReadTimeout (before the headers)
            kind = "connect" if isinstance(exc, requests.ConnectTimeout) else "read"
            raise DCSTimeout(f"DCS {kind} timeout for the {what}") from exc
        except requests.RequestException as exc:
            raise DCSUnavailable(
                f"DCS unreachable for the {what}: {type(exc).__name__}: {exc}"
            ) from exc

    def _get_json(self, path: str, what: str, params: dict[str, str] | None = None) -> Any:
        response = self._get(path, what, params=params, stream=True)
        try:
            if response.status_code != 200:
                self._raise_for_status(response, what)
            try:
                return response.json()
            except (ValueError, requests.RequestException) as exc:
                raise DCSUnavailable(f"DCS sent a malformed {what}: {exc}") from exc
        finally:
            response.close()

    def _raise_for_status(self, response: requests.Response, what: str) -> NoReturn:
        """Close an unwanted answer and raise the matching DCSError."""
        status = response.status_code
        detail = self._detail(response)
        response.close()
        if status == 404:
            raise DCSNotFound(f"DCS has no {what} (HTTP 404: {detail})")
        if status == 403 and what.startswith("presigned"):
            raise PresignNotAllowed(f"DCS does not presign for this account ({detail})")
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
        return error_detail(response, (self._password, self._email, *(self.tokens.local or ())[:1]))


def serves_name(path: str) -> bool:
    """Whether DCS's object endpoint can serve ``path``: only a basename outside Latin-1
    makes it fail (with a 500 after its lookup)."""
    try:
        posixpath.basename(path).encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _segment(value: str) -> str:
    """Percent-encode one URL path segment (a publisher or book name).

    Names DCS refuses with 400 (empty, ``.``, ``..``, with ``/`` or ``\\``) are refused here
    the same way: requests and urllib3 would otherwise normalise dot segments into another URL.
    """
    if value in ("", ".", "..") or "/" in value or "\\" in value:
        raise UnservableName(f"Invalid DCS publisher or book name {value!r}")
    return quote(value, safe="")


@functools.cache
def get_breaker() -> CircuitBreaker:
    """The process's view of the breaker on DCS (its state lives in the shared cache)."""
    return CircuitBreaker(
        django_cache,
        "dcs",
        failures=settings.DCS_BREAKER_FAILURES,
        reset=settings.DCS_BREAKER_RESET,
    )


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
        breaker=get_breaker(),
    )
