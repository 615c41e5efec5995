"""What every page's template may ask about the site's setup."""

from django.conf import settings


def accounts(request):
    """Whether the sign-in page offers password reset (only when mail can go out)."""
    return {"password_reset_enabled": settings.PASSWORD_RESET_ENABLED}
