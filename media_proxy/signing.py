"""Signed media links: for players that can send neither cookies nor headers.

A link carries a signature (django.core.signing) over the user, the book and
the path, with its creation time; it expires after MEDIA_LINK_MAX_AGE. It
grants nothing by itself: every request made with it still goes through
`books.access`, so a revoked assignment stops it at once.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.utils import timezone

SALT = "media_proxy.signed-link"
QUERY_PARAM = "sig"


@dataclass(frozen=True)
class LinkClaims:
    user_id: int
    book_id: str
    path: str


class InvalidLink(Exception):
    """Tampered, expired or malformed."""


def sign_link(user_id: int, book_id: str, path: str) -> tuple[str, datetime]:
    """The signature for a link, and when it expires."""
    token = signing.dumps({"u": user_id, "b": book_id, "p": path}, salt=SALT, compress=True)
    return token, timezone.now() + timedelta(seconds=settings.MEDIA_LINK_MAX_AGE)


def read_link(token: str) -> LinkClaims:
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.MEDIA_LINK_MAX_AGE)
    except signing.SignatureExpired:
        raise InvalidLink("This media link has expired.") from None
    except signing.BadSignature:
        raise InvalidLink("This media link is not valid.") from None
    try:
        return LinkClaims(int(data["u"]), str(data["b"]), str(data["p"]))
    except (KeyError, TypeError, ValueError):
        raise InvalidLink("This media link is not valid.") from None
