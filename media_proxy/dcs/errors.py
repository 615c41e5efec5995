"""The errors of the DCS client; ``str()`` of each is a clear message without secrets."""


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
    """A name DCS cannot serve (a publisher or book name it cannot address, a file name
    outside Latin-1): the LMS's data, not a DCS failure. Nothing is sent to DCS."""


class PresignNotAllowed(DCSError):
    """DCS refuses presigned URLs to the LMS's account (not a DCS admin): no failure of DCS."""
