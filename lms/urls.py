from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.views import serve as serve_static
from django.urls import include, path, re_path

from lms.operations import healthz, metrics
from lms.views import ping

urlpatterns = [
    path("ping", ping, name="ping"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
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
