"""The site's language for every request: Django's LocaleMiddleware, media bodies left alone."""

from django.http import HttpRequest, HttpResponseBase
from django.middleware.locale import LocaleMiddleware

#: URL names whose answers are the same bytes whatever the reader's language
LANGUAGE_FREE_VIEWS = frozenset({"media"})


class SiteLocaleMiddleware(LocaleMiddleware):
    """The language from the `django_language` cookie (the page's switch), else the
    browser's Accept-Language, else LANGUAGE_CODE.

    The media endpoint still gets the language (its JSON `detail` texts are
    translated), but its answers keep exactly the headers the media layer sets:
    no `Content-Language` or `Vary: Accept-Language` on a file's bytes (the media
    headers' `Vary` is part of their contract; caches must not split a file by
    the reader's language).
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name in LANGUAGE_FREE_VIEWS:
            return response
        return super().process_response(request, response)
