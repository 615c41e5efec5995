"""The DCS token's life: a per-process copy over the Django cache shared by all workers.

A login happens at most once at a time per process and (mostly) per cluster: threads
wait on a process lock, processes on a lock key in the shared cache.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.base import BaseCache

from media_proxy.cache_keys import cache_key
from media_proxy.dcs.errors import DCSAuthError

logger = logging.getLogger(__name__)

TOKEN_SAFETY_MARGIN = 60  # seconds before the JWT's exp at which the token is dropped
TOKEN_FALLBACK_TTL = 300  # seconds, when the JWT's exp cannot be read
LOGIN_LOCK_TIMEOUT = 10  # seconds the cross-process login lock lives at most
LOGIN_WAIT = 5.0  # seconds to wait for another process's login before logging in ourselves
LOGIN_POLL_INTERVAL = 0.05

# Process-wide: one login at a time per process (single-flight, see TokenStore.refresh).
_LOGIN_LOCK = threading.Lock()


class TokenStore:
    """Holds the DCS token of one account; ``login`` (from the client) fetches a new one."""

    def __init__(
        self, cache: BaseCache, base_url: str, email: str, login: Callable[[], str]
    ) -> None:
        self._cache = cache
        self._base_url = base_url
        self._login = login
        account = (base_url, email.strip().lower())
        self.key = cache_key("dcs:token", *account)
        self.lock_key = cache_key("dcs:login-lock", *account)
        # Per-process copy of the cached token: (token, wall-clock time it is dropped).
        self.local: tuple[str, float] | None = None
        # (monotonic time, message) of the last failed login, shared with threads that waited.
        self._last_login_failure: tuple[float, DCSAuthError] | None = None

    def current(self) -> str:
        """The current token: process copy, else the shared cache, else a (single-flight) login."""
        local = self.local
        if local is not None and local[1] > time.time():
            return local[0]
        token = self._cache_call("get", self.key)
        if isinstance(token, str) and token:
            self._adopt(token)
            return token
        return self.refresh(stale=None)

    def login(self) -> str:
        """Log in, store the token in the cache and return it; a failure is kept for waiters."""
        try:
            token = self._login()
        except DCSAuthError as exc:
            self._last_login_failure = (time.monotonic(), exc)
            raise
        ttl = _token_ttl(token, time.time())
        self._cache_call("set", self.key, token, ttl)
        self.local = (token, time.time() + ttl)
        logger.info("Logged in to DCS at %s; token kept for %s s", self._base_url, ttl)
        return token

    def refresh(self, stale: str | None) -> str:
        """A token other than ``stale``; at most one login per process and (mostly) per cluster."""
        waiting_since = time.monotonic()
        with _LOGIN_LOCK:
            local = self.local
            if local is not None and local[0] != stale and local[1] > time.time():
                return local[0]  # another thread of this process already logged in
            failure = self._last_login_failure
            if failure is not None and failure[0] >= waiting_since:
                # The login this thread waited for failed: share its outcome, don't retry now.
                raise type(failure[1])(str(failure[1]))
            token = self._fresh_cached(stale)
            if token is not None:
                return token
            owner = False
            deadline = time.monotonic() + LOGIN_WAIT
            while True:
                owner = self._cache_call("add", self.lock_key, 1, LOGIN_LOCK_TIMEOUT, default=True)
                if owner:
                    # The previous owner may have stored its token just before letting go.
                    token = self._fresh_cached(stale)
                    if token is not None:
                        self._cache_call("delete", self.lock_key)
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
                    self._cache_call("delete", self.lock_key)

    def _adopt(self, token: str) -> None:
        self.local = (token, time.time() + _token_ttl(token, time.time()))

    def _fresh_cached(self, stale: str | None) -> str | None:
        token = self._cache_call("get", self.key)
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
