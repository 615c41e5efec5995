"""DCS's JWT access tokens: HS256, claims ``sub``/``iat``/``exp``, no leeway."""

from __future__ import annotations

import threading
import time

import jwt

DEFAULT_SECRET = "dcs-emulator-development-signing-secret"
ALGORITHM = "HS256"


class TokenService:
    """Issues and checks tokens.

    :meth:`revoke_all` rotates the signing key, so every token issued so far
    fails its signature check (401 "Invalid token") while the claims of new
    tokens stay exactly ``sub``, ``iat`` and ``exp``.
    """

    def __init__(self, secret: str = DEFAULT_SECRET, lifetime: float = 1800) -> None:
        self._base_secret = secret
        self._generation = 0
        self._lock = threading.Lock()
        self.lifetime = lifetime

    @property
    def secret(self) -> str:
        """The key tokens are signed with right now."""
        with self._lock:
            if self._generation == 0:
                return self._base_secret
            return f"{self._base_secret}#{self._generation}"

    def revoke_all(self) -> None:
        with self._lock:
            self._generation += 1

    def issue(self, subject: str, lifetime: float | None = None) -> str:
        """A token for ``subject``; like DCS, timestamps are truncated to whole seconds."""
        now = time.time()
        seconds = self.lifetime if lifetime is None else lifetime
        claims = {"sub": subject, "iat": int(now), "exp": int(now + seconds)}
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def subject(self, token: str) -> str | None:
        """The ``sub`` of a valid, unexpired token signed with the current key, else None."""
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "sub"]},
                leeway=0,
            )
        except jwt.PyJWTError:
            return None
        return claims["sub"]
