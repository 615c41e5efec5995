"""Pooled connections to DCS that survive its connection habits (docs/dcs.md).

DCS (uvicorn) closes a keep-alive connection after 5 s idle and after every
304 and 500, without `Connection: close`. A pooled connection can therefore be
dead when it is taken: the request then fails before any response byte
(reset, or an empty reply). `dcs_session` mounts an adapter whose pools

- drop a connection idle for `IDLE_LIMIT` seconds instead of reusing it, and
- retry an idempotent GET once, on a new connection, when a *reused*
  connection fails before any response byte (`StaleConnectionRetry`).

The retry happens inside urllib3's `urlopen`, before `requests` hands back a
response: no byte of a body has been read, let alone relayed. Every other
failure (connect errors, timeouts, a fresh connection reset) is raised as it
was, with no retry: a hung or failing DCS is not asked twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from http.cookiejar import DefaultCookiePolicy
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ProtocolError
from urllib3.util.retry import Retry

logger = logging.getLogger(__name__)

IDLE_LIMIT = 4.0  # seconds; DCS closes idle connections after 5

# What the current thread's DCS request went out on (urllib3 calls the pool's
# _get_conn and the retry's increment on the thread that makes the request).
_attempt = threading.local()


class RetryCounter:
    """How many GETs were sent again after DCS had closed their reused connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self) -> None:
        with self._lock:
            self.value += 1


stale_retries = RetryCounter()


class StaleConnectionRetry(Retry):
    """One retry, of a GET, when a reused connection broke before any response byte."""

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: TracebackType | None = None,
    ) -> Retry:
        if self.total and method == "GET" and _broke_reused_connection(error):
            _attempt.wants_new_connection = True
            stale_retries.add()
            logger.info("DCS had closed a pooled connection; sending the GET again on a new one")
            return self.new(total=0)
        return super().increment(method, url, response, error, _pool, _stacktrace)


def _broke_reused_connection(error: Exception | None) -> bool:
    # urllib3 wraps the socket error: ProtocolError("Connection aborted.", <error>).
    # ConnectionError covers reset, aborted, broken pipe and http.client's
    # RemoteDisconnected (an empty reply); a timeout is not one of them.
    cause = error.args[1] if isinstance(error, ProtocolError) and len(error.args) > 1 else None
    return isinstance(cause, ConnectionError) and getattr(_attempt, "reused", False)


class _DCSPoolMixin:
    """Hands out a connection: idle ones past IDLE_LIMIT and, for a retry, any pooled
    one are closed first (urllib3 then connects anew); notes whether it is reused."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        idle_since = getattr(conn, "dcs_idle_since", None)
        if getattr(_attempt, "wants_new_connection", False) or (
            idle_since is not None and time.monotonic() - idle_since > IDLE_LIMIT
        ):
            _attempt.wants_new_connection = False
            conn.close()
        _attempt.reused = conn.sock is not None
        return conn

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            conn.dcs_idle_since = time.monotonic()
        super()._put_conn(conn)  # type: ignore[misc]


class _DCSHTTPPool(_DCSPoolMixin, HTTPConnectionPool):
    pass


class _DCSHTTPSPool(_DCSPoolMixin, HTTPSConnectionPool):
    pass


class _DCSAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        pools: Mapping[str, type] = {"http": _DCSHTTPPool, "https": _DCSHTTPSPool}
        self.poolmanager.pool_classes_by_scheme = pools


def prepare_get(url: str, params: dict[str, str] | None, headers: dict[str, str]) -> Any:
    """A GET ready for `session.send`: what `session.get` would send, without merging the
    session's cookies, hooks and environment into every call (half of its CPU; the
    session has none of them to give). For a URL from outside (a presigned one)."""
    return requests.Request("GET", url, params=params, headers=headers).prepare()


class GetTemplate:
    """GETs below one base URL (DCS's), prepared as `prepare_get` would, at a tenth of
    its CPU: what requests does to a URL (validation, IDNA, requoting) is done once,
    for the base; per call come only a path whose segments the caller percent-encoded
    and a query from `urlencode`, which requests' requoting leaves as they are
    (tests/unit/test_dcs_connections.py holds the two equal)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = prepare_get(base_url, None, {}).url.rstrip("/")

    def get(
        self, path: str, params: dict[str, str] | None, headers: dict[str, str]
    ) -> requests.PreparedRequest:
        prepared = requests.PreparedRequest()
        prepared.method = "GET"
        query = f"?{urlencode(params)}" if params else ""
        prepared.url = f"{self.base_url}{path}{query}"
        prepared.headers = CaseInsensitiveDict(headers)
        prepared._cookies = RequestsCookieJar()  # as prepare's: a 3xx's cookies land here
        return prepared


def dcs_session(pool_size: int) -> requests.Session:
    session = requests.Session()
    # DCS is an internal service: no proxies/.netrc from the environment (a
    # ~/.netrc entry would even replace our Authorization header) and no cookies.
    session.trust_env = False
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    retry = StaleConnectionRetry(
        total=1, connect=0, read=False, redirect=0, status=0, other=0, raise_on_status=False
    )
    adapter = _DCSAdapter(
        pool_connections=4, pool_maxsize=pool_size, pool_block=False, max_retries=retry
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _QuietRetries(logging.Filter):
    """urllib3 warns of every retry; ours are expected and logged above at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("Retrying ("))


logging.getLogger("urllib3.connectionpool").addFilter(_QuietRetries())
