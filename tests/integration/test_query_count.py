"""Database queries per media request: every seek pays them, so they stay few."""

import pytest
from django.test import Client

from media_proxy import views
from tests import media
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


def test_a_seek_gives_its_database_connection_back_before_its_admission(
    in_process_lms, monkeypatch
):
    """Its last query done, a media request holds no database connection while it waits
    for a stream slot, for DCS, or for its player (a pool's connections stay free)."""
    steps = []
    monkeypatch.setattr(views, "give_back_connections", lambda: steps.append("given back"))
    admit = views.admit_media
    monkeypatch.setattr(
        views, "admit_media", lambda *args: steps.append("admitted") or admit(*args)
    )
    user, book = student_with_book()
    response = Client().get(
        media_path(book, "data/random-1m.bin"),
        HTTP_RANGE="bytes=0-9",
        HTTP_AUTHORIZATION=bearer(user)["Authorization"],
    )
    assert response.status_code == 206
    assert b"".join(response.streaming_content) == media.file_bytes("data/random-1m.bin")[:10]
    assert steps == ["given back", "admitted"]
