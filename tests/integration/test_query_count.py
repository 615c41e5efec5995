"""Database queries per media request: every seek pays them, so they stay few."""

import pytest
from django.test import Client

from tests.factories import bearer, student_with_book
from tests.wire import media_path

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("caller", "queries"),
    [
        # token + user (one join, DRF); the book, its publisher and the access rules
        ("bearer", 2),
        # the session, the user (lms.auth: one raw statement each); the book, its
        # publisher and the access rules
        ("session", 3),
    ],
)
def test_a_seek_costs_a_few_queries(in_process_lms, django_assert_num_queries, caller, queries):
    user, book = student_with_book()
    client = Client()
    if caller == "session":
        client.force_login(user)
        headers = {}
    else:
        headers = {"HTTP_AUTHORIZATION": bearer(user)["Authorization"]}
    url = media_path(book, "data/random-1m.bin")
    client.get(url, HTTP_RANGE="bytes=0-1", **headers)  # warm: DCS login, object size
    with django_assert_num_queries(queries):
        response = client.get(url, HTTP_RANGE="bytes=500000-500099", **headers)
        body = b"".join(response.streaming_content)
    assert response.status_code == 206
    assert len(body) == 100
