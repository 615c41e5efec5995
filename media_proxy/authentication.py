"""How API and media callers prove who they are (DRF authentication classes)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import BaseAuthentication, TokenAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request

from media_proxy.signing import QUERY_PARAM, InvalidLink, LinkClaims, read_link


class BearerTokenAuthentication(TokenAuthentication):
    """`Authorization: Bearer <token>`, the token from POST /api/v1/auth/token (DRF authtoken)."""

    keyword = "Bearer"


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
        user = get_user_model().objects.filter(pk=claims.user_id, is_active=True).first()
        if user is None:
            raise PermissionDenied(_("This media link is not valid."))
        return user, claims
