"""What operators and load balancers ask the LMS: is this node healthy, and its metrics."""

from __future__ import annotations

import ipaddress
import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST

from media_proxy.dcs import get_breaker
from media_proxy.metrics import exposition

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    """GET /healthz (no login): 200 while this process and its database are fine.

    DCS being down does not make the node unhealthy (a load balancer must keep
    it: pages, login and the admin still work); the breaker's state says so.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except Exception as error:
        logger.warning("Health check: the database failed: %s", type(error).__name__)
        database = "unavailable"
    body = {
        "status": "ok" if database == "ok" else "unavailable",
        "database": database,
        "dcs_breaker": get_breaker().state(),
    }
    return JsonResponse(body, status=200 if database == "ok" else 503)


def metrics(request: HttpRequest) -> HttpResponse:
    """GET /metrics: Prometheus's text format, only for METRICS_ALLOWED_IPS."""
    if not _allowed(request.META.get("REMOTE_ADDR", "")):
        return JsonResponse({"detail": "Not found."}, status=404)
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


def _allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net) for net in settings.METRICS_ALLOWED_IPS)
