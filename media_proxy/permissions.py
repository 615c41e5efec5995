"""What an authenticated caller may do beyond `IsAuthenticated` (DRF permission classes)."""

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from media_proxy.signing import LinkClaims


class SignedLinkScope(BasePermission):
    """A signed link opens only the one file it was made for, and nothing else of the API."""

    message = _("This media link is for another file.")

    def has_permission(self, request: Request, view: APIView) -> bool:
        claims = request.auth
        if not isinstance(claims, LinkClaims):
            return True
        kwargs = view.kwargs
        return claims.book_id == kwargs.get("book_id") and claims.path == kwargs.get("asset_path")
