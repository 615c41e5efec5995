"""The breaker's half-open probe closes it even when the worker must log in to DCS
first (its token expired during the outage): the login is the probe, then the read
goes through."""

import time

import pytest
from django.core.cache import cache
from django.test import Client

from media_proxy.dcs import get_dcs_client
from media_proxy.dcs.client import get_breaker
from tests import media
from tests.factories import bearer, student_with_book
from tests.wire import media_path

pytestmark = pytest.mark.django_db

FILE = "data/random-1m.bin"


def test_a_probe_that_must_log_in_first_closes_the_breaker(in_process_lms, dcs, settings):
    settings.DCS_BREAKER_RESET = 0.2
    user, book = student_with_book()
    cache.clear()  # no DCS token in the shared cache
    get_dcs_client().tokens.local = None  # nor in this process
    breaker = get_breaker()
    for _ in range(settings.DCS_BREAKER_FAILURES):
        breaker.record_failure()
    assert breaker.state() == "open"
    time.sleep(0.3)
    assert breaker.state() == "half-open"

    response = Client().get(media_path(book, FILE), HTTP_RANGE="bytes=0-9", headers=bearer(user))
    assert response.status_code == 206
    assert b"".join(response.streaming_content) == media.file_bytes(FILE)[:10]
    assert breaker.state() == "closed"
    assert dcs.stats.logins == 1
