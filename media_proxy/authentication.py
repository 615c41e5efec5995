"""How API and media callers prove who they are (DRF authentication classes)."""

import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import BaseAuthentication, TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.request import Request

from lms.auth import first_user, user_by_id_sql, user_select
from media_proxy.signing import QUERY_PARAM, InvalidLink, LinkClaims, read_link


class BearerTokenAuthentication(TokenAuthentication):
    """`Authorization: Bearer <token>`, the token from POST /api/v1/auth/token (DRF authtoken)."""

    keyword = "Bearer"

    def authenticate_credentials(self, key: str) -> tuple[AbstractBaseUser, Token]:
        """DRF's checks (a known token of an active user, the same errors), with the
        token's user read by one raw statement (lms.auth)."""
        user = first_user(_token_user_sql(self.get_model()), [key])
        if user is None:
            raise AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise AuthenticationFailed(_("User inactive or deleted."))
        return user, self.get_model()(key=key, user=user)


@functools.cache
def _token_user_sql(token_model: type[Token]) -> str:
    """The user whose token is %s."""
    from django.db import connection

    quote = connection.ops.quote_name
    user, token = get_user_model()._meta, token_model._meta
    return user_select(
        f"JOIN {quote(token.db_table)} t ON t.{quote(token.get_field('user').column)}"
        f" = u.{quote(user.pk.column)} WHERE t.{quote(token.pk.column)} = %s"
    )


class SignedLinkAuthentication(BaseAuthentication):
    """`?sig=` on a media URL: a signed link bound to one user, book and path.

    A bad link is a 403 with a clear detail, not a fall-through to anonymous.
    Which file the link opens is authorization: `permissions.SignedLinkScope`.
    """

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, LinkClaims] | None:
        token = request.query_params.get(QUERY_PARAM)
        if token is None:
            return None
        try:
            claims = read_link(token)
        except InvalidLink as error:
            raise PermissionDenied(str(error)) from None
        user = first_user(user_by_id_sql(), [claims.user_id])
        if user is None or not user.is_active:
            raise PermissionDenied(_("This media link is not valid."))
        return user, claims
