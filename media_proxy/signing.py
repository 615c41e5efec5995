"""Signed media links: for players that can send neither cookies nor headers.

A link carries a signature (django.core.signing) over the user, the book and
the path, with its creation time; it expires after MEDIA_LINK_MAX_AGE, or after
a shorter lifetime it carries. It grants nothing by itself: every request made
with it still goes through `books.access`, so a revoked assignment stops it at
once.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

SALT = "media_proxy.signed-link"
QUERY_PARAM = "sig"


@dataclass(frozen=True)
class LinkClaims:
    user_id: int
    book_id: str
    path: str


class InvalidLink(Exception):
    """Tampered, expired or malformed."""


def sign_link(
    user_id: int, book_id: str, path: str, lifetime: int | None = None
) -> tuple[str, datetime]:
    """The signature for a link, and when it expires.

    `lifetime` (seconds) shortens a link's life below MEDIA_LINK_MAX_AGE (the
    admin's "Copy link"); the link then carries it (`t`). Never longer.
    """
    claims: dict = {"u": user_id, "b": book_id, "p": path}
    max_age = settings.MEDIA_LINK_MAX_AGE
    if lifetime is not None and 0 < lifetime < max_age:
        claims["t"] = max_age = int(lifetime)
    token = signing.dumps(claims, salt=SALT, compress=True)
    return token, timezone.now() + timedelta(seconds=max_age)


def read_link(token: str) -> LinkClaims:
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.MEDIA_LINK_MAX_AGE)
        if isinstance(data, dict) and "t" in data:
            if type(data["t"]) is not int or data["t"] <= 0:
                raise signing.BadSignature
            signing.loads(token, salt=SALT, max_age=data["t"])
    except signing.SignatureExpired:
        raise InvalidLink(_("This media link has expired.")) from None
    except signing.BadSignature:
        raise InvalidLink(_("This media link is not valid.")) from None
    try:
        return LinkClaims(int(data["u"]), str(data["b"]), str(data["p"]))
    except (KeyError, TypeError, ValueError):
        raise InvalidLink(_("This media link is not valid.")) from None
