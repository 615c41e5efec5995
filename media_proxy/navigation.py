"""A person opening a media URL in a tab gets pages, not JSON.

Media elements (`<audio>`, `<video>`, `<track>`), `fetch()` and API clients
(curl, VLC, apps) keep the endpoint's JSON answers; only a top-level browser
navigation is answered with a page:

- not signed in (401): the login page, then back to the file;
- a signed link that expired, was tampered with, opens another file, or whose
  access was revoked (403 with `?sig=`): a page that says so;
- no access to the book (403) or no such book or file (404): the site's pages.

`media_proxy.exception_handler` wires it into DRF (`EXCEPTION_HANDLER`).
"""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext
from rest_framework import exceptions, status

from media_proxy.signing import QUERY_PARAM

NOT_SIGNED_IN = (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)


def _accepts_html(accept: str) -> bool:
    return any(part.split(";")[0].strip().lower() == "text/html" for part in accept.split(","))


def is_browser_navigation(request: HttpRequest) -> bool:
    """Whether `request` is a browser opening the URL as a page (a tab, a link, the address
    bar), not a media element, `fetch()` or an API client.

    Browsers say so in Fetch Metadata (`Sec-Fetch-Mode: navigate` with
    `Sec-Fetch-Dest: document`; a media element sends `Sec-Fetch-Dest: audio`,
    `video` or `track`). A browser without them is recognised by `Accept`
    listing `text/html` on a request without `Range` (media elements always
    send a Range; players and tools do not ask for HTML).
    """
    if request.method not in ("GET", "HEAD"):
        return False
    headers = request.headers
    mode, dest = headers.get("Sec-Fetch-Mode"), headers.get("Sec-Fetch-Dest")
    if mode is not None or dest is not None:
        return mode == "navigate" and dest == "document"
    return "Range" not in headers and _accepts_html(headers.get("Accept", ""))


def _status_of(exc: Exception) -> int | None:
    if isinstance(exc, Http404):
        return status.HTTP_404_NOT_FOUND
    if isinstance(exc, DjangoPermissionDenied):
        return status.HTTP_403_FORBIDDEN
    return getattr(exc, "status_code", None)


def _page(request: HttpRequest, template: str, context: dict, status_code: int) -> HttpResponse:
    html = render_to_string(template, context, request=getattr(request, "_request", request))
    return HttpResponse(html, status=status_code)


def navigation_response(request: HttpRequest, exc: Exception) -> HttpResponse | None:
    """The page for a browser navigation that met `exc`, or None (keep the JSON answer)."""
    if not is_browser_navigation(request):
        return None
    code = _status_of(exc)
    if isinstance(exc, NOT_SIGNED_IN) or code == status.HTTP_401_UNAUTHORIZED:
        return redirect_to_login(request.get_full_path())
    if code == status.HTTP_403_FORBIDDEN and QUERY_PARAM in request.GET:
        reason = exc.detail if isinstance(exc, exceptions.APIException) else gettext(str(exc))
        return _page(request, "media_proxy/link_error.html", {"reason": reason}, code)
    if code == status.HTTP_403_FORBIDDEN:
        return _page(request, "403.html", {}, code)
    if code == status.HTTP_404_NOT_FOUND:
        return _page(request, "404.html", {}, code)
    return None
