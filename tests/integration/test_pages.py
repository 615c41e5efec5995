"""Course pages and the admin preview: who sees what, and a DCS outage shown as a
message rather than a 500."""

import pytest
from django.core.cache import cache
from django.test import Client

from local_servers import free_port
from media_proxy.dcs import get_dcs_client
from tests.factories import make_book, make_user, student_with_book

pytestmark = pytest.mark.django_db

OUTAGE_MESSAGE = "The media library is unavailable right now."


@pytest.fixture
def dcs_at(settings):
    def point_at(base_url: str) -> None:
        settings.DCS_BASE_URL = base_url
        get_dcs_client.cache_clear()
        cache.clear()

    yield point_at
    get_dcs_client.cache_clear()
    cache.clear()


@pytest.fixture
def dcs_up(dcs, dcs_at):
    dcs_at(dcs.base_url)
    return dcs


@pytest.fixture
def dcs_down(dcs_at):
    dcs_at(f"http://127.0.0.1:{free_port()}")


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_pages_need_a_login():
    book = make_book()
    for url in ("/books/", f"/books/{book.pk}/"):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_book_list_shows_only_readable_books():
    user, _ = student_with_book(title="Mine")
    make_book(book_name="other", title="Not mine")
    page = signed_in(user).get("/books/").content.decode()
    assert "Mine" in page
    assert "Not mine" not in page


def test_book_page_lists_media_with_players(dcs_up):
    user, book = student_with_book()
    page = signed_in(user).get(f"/books/{book.pk}/").content.decode()
    assert (
        '<video controls preload="metadata" playsinline data-media-path="videos/unit 1/intro.mp4">'
        in page
    )
    assert '<track kind="subtitles" src="/api/v1/books/' in page
    assert "intro.vtt" in page
    assert '<audio controls preload="metadata" data-media-path="audio/08.mp3">' in page
    assert OUTAGE_MESSAGE not in page


def test_book_page_is_403_for_a_stranger(dcs_up):
    book = make_book()
    response = signed_in(make_user()).get(f"/books/{book.pk}/")
    assert response.status_code == 403
    assert "have access to this book" in response.content.decode()


def test_book_page_survives_a_dcs_outage(dcs_down):
    user, book = student_with_book()
    response = signed_in(user).get(f"/books/{book.pk}/")
    assert response.status_code == 200
    assert OUTAGE_MESSAGE in response.content.decode()


def test_admin_preview_lists_files_and_survives_an_outage(dcs_at, dcs):
    admin = make_user(is_superuser=True, is_staff=True)
    book = make_book()
    dcs_at(dcs.base_url)
    page = signed_in(admin).get(f"/admin/books/book/{book.pk}/change/").content.decode()
    assert "Media preview (from DCS)" in page
    assert 'data-media-path="videos/unit 1/intro.mp4"' in page
    dcs_at(f"http://127.0.0.1:{free_port()}")
    response = signed_in(admin).get(f"/admin/books/book/{book.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert OUTAGE_MESSAGE in page
    assert 'name="title"' in page  # the rest of the admin page works
