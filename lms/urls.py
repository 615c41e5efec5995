import functools

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import urls as auth_urls
from django.contrib.staticfiles.views import serve as serve_static
from django.http import Http404
from django.urls import include, path, re_path

from lms.operations import healthz, metrics
from lms.views import ping


def _needs_mail(view):
    """Password reset only where mail can go out (PASSWORD_RESET_ENABLED: EMAIL_URL)."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not settings.PASSWORD_RESET_ENABLED:
            raise Http404("Password reset is off: no EMAIL_URL.")
        return view(request, *args, **kwargs)

    return wrapped


# django.contrib.auth.urls, with password reset behind _needs_mail.
accounts = [
    path(str(route.pattern), _needs_mail(route.callback), name=route.name)
    if route.name.startswith("password_reset")
    else route
    for route in auth_urls.urlpatterns
]

urlpatterns = [
    path("ping", ping, name="ping"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts)),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the pages' switch
    path("api/v1/", include("media_proxy.urls")),
    path("", include("books.urls")),
]
if settings.DEBUG or settings.TESTING:
    # The admin's CSS and scripts for the dev server and the servers tests start (gunicorn
    # with DEBUG off); in production nginx serves STATIC_ROOT (docs/deployment.md).
    urlpatterns.insert(
        0, re_path(r"^static/(?P<path>.*)$", serve_static, {"insecure": True}, name="static")
    )
