"""The errors of the DCS client; ``str()`` of each is a clear message without secrets."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import requests


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


class DCSLoginTimeout(DCSAuthError, DCSTimeout):
    """The login got no answer in time (-> 504, like any other wait on DCS)."""


class UnservableName(DCSError):
    """A name DCS cannot serve (a publisher or book name it cannot address, a file name
    outside Latin-1): the LMS's data, not a DCS failure. Nothing is sent to DCS."""


class PresignNotAllowed(DCSError):
    """DCS refuses presigned URLs to the LMS's account (not a DCS admin): no failure of DCS."""


class CircuitOpen(DCSError):
    """The DCS circuit breaker is open: DCS is failing, nothing was sent (-> 503)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("DCS is failing; the circuit breaker is open")
        self.retry_after = retry_after


ERROR_BODY_LIMIT = 4096  # bytes of an error answer read for its detail


def error_detail(response: requests.Response, secrets: Iterable[object]) -> str:
    """A short description of an error answer's body, with every secret masked."""
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
    for secret in secrets:
        if isinstance(secret, str) and secret:
            text = re.sub(re.escape(secret), "***", text, flags=re.IGNORECASE)
    return text[:300]
