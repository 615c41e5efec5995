"""DRF's exception handler for the LMS: pages for browser navigations, JSON for the rest.

Set as REST_FRAMEWORK["EXCEPTION_HANDLER"]. Everything that is not a browser
navigation gets DRF's own answer, its `detail` in the request's language:
lazy texts translate themselves; plain ones (Django's Http404 and
PermissionDenied raised by `books.access`, `media_proxy.paths`' messages) are
looked up in the catalogs here.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext, gettext_noop
from rest_framework.exceptions import ErrorDetail
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
    if isinstance(response, Response) and isinstance(response.data, dict):
        detail = response.data.get("detail")
        if isinstance(detail, str):
            # Texts raised as plain strings (books.access, media_proxy.paths) are in the
            # catalogs too; a text already translated is no msgid and stays as it is.
            response.data["detail"] = ErrorDetail(gettext(detail), getattr(detail, "code", None))
    return response
