"""/healthz and /metrics through Django's test client (the wire tests: test_isolation)."""

import pytest


@pytest.mark.django_db
def test_healthz_needs_no_login_and_reports_the_breaker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "dcs_breaker": "closed"}


def test_metrics_only_for_allowed_addresses(client, settings):
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1/32", "10.1.0.0/16"]
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    refused = client.get("/metrics", REMOTE_ADDR="10.2.0.1")
    assert refused.status_code == 404
    assert refused.json() == {"detail": "Not found."}
    assert b"lms_dcs_breaker_state" in client.get("/metrics").content
