"""DRF's exception handler for the LMS: pages for browser navigations, JSON for the rest.

Set as REST_FRAMEWORK["EXCEPTION_HANDLER"]. Everything that is not a browser
navigation gets DRF's own answer, with the `detail` texts of Django's
Http404 and PermissionDenied (raised by `books.access`) in the request's
language.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse
from django.utils.translation import gettext, gettext_noop
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from media_proxy.navigation import navigation_response

#: texts raised as Django exceptions outside media_proxy (`books.access`), for the catalogs
ACCESS_DETAILS = (
    gettext_noop("Book not found."),
    gettext_noop("You do not have access to this book."),
)


def exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse | None:
    request = context.get("request")
    if request is not None:
        page = navigation_response(request, exc)
        if page is not None:
            set_rollback()
            return page
    response = drf_exception_handler(exc, context)
    if (
        isinstance(response, Response)
        and isinstance(exc, Http404 | DjangoPermissionDenied)
        and isinstance(response.data, dict)
        and isinstance(response.data.get("detail"), str)
    ):
        response.data["detail"] = gettext(response.data["detail"])
    return response
