from django.urls import path, re_path
from rest_framework.authtoken.views import ObtainAuthToken

from media_proxy.throttling import TokenRateThrottle
from media_proxy.views import MediaLinkView, MediaView, MeView

urlpatterns = [
    path(
        "auth/token",
        ObtainAuthToken.as_view(throttle_classes=[TokenRateThrottle]),
        name="api-token",
    ),
    path("me", MeView.as_view(), name="me"),
    # Any book id and any path (even empty) reach the view, which answers a
    # JSON 404 or 400 instead of the HTML 404 of an unmatched URL.
    re_path(
        r"^books/(?P<book_id>[^/]+)/media/(?P<asset_path>[\s\S]*)$",
        MediaView.as_view(),
        name="media",
    ),
    re_path(r"^books/(?P<book_id>[^/]+)/media-links$", MediaLinkView.as_view(), name="media-links"),
]
