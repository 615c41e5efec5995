"""The LMS's own views: the plain view, the floor every other view is measured against."""

from django.http import HttpRequest, HttpResponse


def ping(request: HttpRequest) -> HttpResponse:
    """GET /ping: "ok", through every middleware, touching neither the database nor the cache.

    The benchmark's reference ("plain Django view, same server"): the cost any request
    pays before a view does its own work. /healthz (lms.operations) checks the database.
    """
    return HttpResponse(b"ok", content_type="text/plain")
