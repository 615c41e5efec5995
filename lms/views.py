"""The LMS's own views: the plain view, the floor every other view is measured against."""

from django.http import HttpRequest, HttpResponse


def ping(request: HttpRequest) -> HttpResponse:
    """GET /healthz: "ok", through every middleware, touching neither the database nor the cache.

    A load balancer's liveness check, and the benchmark's reference ("plain Django view,
    same server"): the cost any request pays before a view does its own work.
    """
    return HttpResponse(b"ok", content_type="text/plain")
