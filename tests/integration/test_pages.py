"""Course pages, error pages and the admin preview, rendered in-process against the DCS
emulator: who sees what, the book's own shape, both languages, a DCS outage shown as a
message, pages for browser navigations to media URLs, and the render time of a long book."""

import re
import statistics
import time
import uuid
from datetime import timedelta
from unittest import mock
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from django.contrib.messages.storage import default_storage
from django.core import signing
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.utils import timezone, translation
from django.views.defaults import server_error

from books.models import Book
from lms import middleware as lms_middleware
from local_servers import free_port
from media_proxy.dcs import get_dcs_client
from media_proxy.objects import PRESIGN_REFUSED_KEY
from media_proxy.signing import QUERY_PARAM, SALT
from tests import big_book
from tests.factories import bearer, make_book, make_user, student_with_book

pytestmark = pytest.mark.django_db

OUTAGE_MESSAGE = "The media library is unavailable right now."
NAVIGATION = {"HTTP_SEC_FETCH_MODE": "navigate", "HTTP_SEC_FETCH_DEST": "document"}
TURKISH = {"HTTP_ACCEPT_LANGUAGE": "tr-TR,tr;q=0.9,en;q=0.5"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}


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


def page_of(client: Client, url: str, **headers) -> str:
    response = client.get(url, **{**ENGLISH, **headers})
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def texts(html: str, pattern: str) -> list[str]:
    found = re.findall(pattern, html, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", m).split()) for m in found]


# --- who sees what --------------------------------------------------------------------------


def test_pages_need_a_login():
    book = make_book()
    for url in ("/books/", f"/books/{book.pk}/", f"/books/{book.pk}/cover"):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_book_list_shows_only_readable_books():
    user, _ = student_with_book(title="Mine")
    make_book(book_name="other", title="Not mine")
    page = page_of(signed_in(user), "/books/")
    assert "Mine" in page
    assert "Not mine" not in page


def test_draft_and_archived_books_carry_a_badge_for_their_publisher(dcs_down):
    member = make_user()
    draft = make_book(book_name="d", title="Drafty", status=Book.Status.DRAFT)
    make_book(book_name="a", title="Old one", status=Book.Status.ARCHIVED)
    make_book(book_name="p", title="Live one")
    draft.publisher.members.add(member)
    page = page_of(signed_in(member), "/books/")
    cards = texts(page, r'<li class="card book-card"[^>]*>(.*?)</li>')
    assert cards == ["Drafty Test Pub Draft", "Live one Test Pub", "Old one Test Pub Archived"]
    assert '<span class="badge badge-draft">Draft</span>' in page_of(
        signed_in(member), f"/books/{draft.pk}/"
    )


def test_book_page_is_403_for_a_stranger(dcs_up):
    book = make_book()
    response = signed_in(make_user()).get(f"/books/{book.pk}/")
    assert response.status_code == 403
    assert "have access to this book" in response.content.decode()


def test_book_page_survives_a_dcs_outage(dcs_down):
    user, book = student_with_book()
    page = page_of(signed_in(user), f"/books/{book.pk}/")
    assert OUTAGE_MESSAGE in page
    assert "<audio" not in page


# --- the book's own shape -------------------------------------------------------------------


def test_book_page_follows_the_books_folders(dcs_up):
    user, book = student_with_book()
    page = page_of(signed_in(user), f"/books/{book.pk}/")
    assert texts(page, r'<section class="card unit"[^>]*>\s*<h2[^>]*>(.*?)</h2>') == [
        "Audio",
        "Data",
        "Ünite 1",
        "Ünite 2",
        "Video › Unit 1",
    ]
    titles = texts(page, r'<h3 class="track-title">(.*?)</h3>')
    assert titles == ["Track 8", "Müzik", "Şarkı", "Intro"]
    # Human titles, not raw names, paths and sizes; subtitles are not files of the page.
    assert "08.mp3 ·" not in page
    assert ">intro.vtt<" not in page
    assert "Subtitles</h2>" not in page
    # One player per audio/video file, named by its title, its subtitles attached.
    assert (
        '<audio controls preload="metadata" aria-label="Track 8" data-media-path="audio/08.mp3">'
        in page
    )
    video = re.search(
        r'<video [^>]*data-media-path="videos/unit 1/intro.mp4">.*?</video>', page, re.S
    )
    assert video, page
    assert 'aria-label="Intro"' in video[0]
    tracks = re.findall(r"<track [^>]*>", video[0])
    assert len(tracks) == 1, tracks  # intro.vtt and intro.srt: one language, .vtt wins
    src = f"/api/v1/books/{book.pk}/media/{quote('videos/unit 1/intro.vtt')}"
    assert f'src="{src}" srclang="en" label="English" default' in tracks[0]
    assert '<select data-captions data-preferred="en"' in page
    assert OUTAGE_MESSAGE not in page


def test_the_cover_is_on_top_and_in_the_book_list(dcs_up, media_root):
    user, book = student_with_book(book_name=big_book.BOOK)
    big_book.build_big_book(media_root)
    client = signed_in(user)
    page = page_of(client, f"/books/{book.pk}/")
    cover = f'<img class="cover" src="/api/v1/books/{book.pk}/media/cover.png" alt="Cover of'
    assert page.index(cover) < page.index("<section")
    response = client.get(f"/books/{book.pk}/cover")
    assert response.status_code == 302
    assert response["Location"] == f"/api/v1/books/{book.pk}/media/cover.png"
    assert f'src="/books/{book.pk}/cover"' in page_of(client, "/books/")
    user, book = student_with_book()  # book-a has no cover
    assert signed_in(user).get(f"/books/{book.pk}/cover").status_code == 404


def test_a_file_dcs_cannot_serve_is_shown_unavailable_with_the_reason(dcs_up, settings):
    user, book = student_with_book()
    client = signed_in(user)
    path = "Ünite 2/şarkı.mp3"
    settings.DCS_PRESIGNED = False
    # Before DCS refused presigned URLs the file may still play through one.
    assert f'data-media-path="{path}"' in page_of(client, f"/books/{book.pk}/")
    cache.set(PRESIGN_REFUSED_KEY, True, 60)
    page = page_of(client, f"/books/{book.pk}/")
    assert f'data-media-path="{path}"' not in page
    notice = texts(page, rf'<p class="unavailable" data-unavailable-path="{path}">(.*?)</p>')
    assert notice == [
        "Not available. The storage service cannot serve files whose names have letters"
        " such as ş, ı, ğ or İ. Ask the publisher to rename this file."
    ]
    page = page_of(client, f"/books/{book.pk}/", **TURKISH)
    assert "Kullanılamıyor." in page
    settings.DCS_PRESIGNED = True  # every read through the object store: it plays
    assert f'data-media-path="{path}"' in page_of(client, f"/books/{book.pk}/")


def test_a_long_book_renders_fast_and_preloads_only_a_few_players(dcs_up, media_root):
    """300 tracks in 12 units: under 300 ms of server time (the listing cached, as it is
    for MEDIA_LISTING_TTL), and only PRELOAD_METADATA_LIMIT players load with the page."""
    from media_proxy.outline import PRELOAD_METADATA_LIMIT

    big_book.build_big_book(media_root)
    user, book = student_with_book(book_name=big_book.BOOK)
    client = signed_in(user)
    url = f"/books/{book.pk}/"
    page = page_of(client, url)  # the first one also lists the book in DCS
    sections = texts(page, r'<section class="card unit"[^>]*>\s*<h2[^>]*>(.*?)</h2>')
    assert sections == [f"Ünite {n}" for n in range(1, big_book.UNITS + 1)]
    paths = re.findall(r'<audio [^>]*data-media-path="([^"]+)"', page)
    assert paths == big_book.track_paths()
    preloads = re.findall(r'<audio controls preload="(\w+)"', page)
    assert preloads.count("metadata") == PRELOAD_METADATA_LIMIT
    assert preloads.count("none") == len(paths) - PRELOAD_METADATA_LIMIT
    assert page.count(" default>") == 0  # no subtitle loads with the page
    timings = []
    for _ in range(7):
        started = time.perf_counter()
        response = client.get(url, **ENGLISH)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200
    median = statistics.median(timings)
    print(f"book page with {len(paths)} tracks: median {median * 1000:.0f} ms")
    assert median < 0.3, [f"{t * 1000:.0f} ms" for t in timings]


# --- Turkish and English --------------------------------------------------------------------


def test_pages_in_both_languages(dcs_up):
    user, book = student_with_book()
    client = signed_in(user)
    english = page_of(client, f"/books/{book.pk}/")
    assert '<html lang="en">' in english
    assert "← My books" in english
    assert '<button type="submit" name="language" value="tr" lang="tr">Türkçe</button>' in english

    turkish = page_of(client, f"/books/{book.pk}/", **TURKISH)
    assert '<html lang="tr">' in turkish
    assert "← Kitaplarım" in turkish
    assert "Çıkış yap" in turkish
    assert texts(turkish, r'<section class="card unit"[^>]*>\s*<h2[^>]*>(.*?)</h2>')[0] == "Ses"
    assert "Parça 8" in turkish
    assert "Altyazılar" in turkish
    assert "Kitaplarım" in page_of(client, "/books/", **TURKISH)
    assert "Giriş yap" in page_of(Client(), "/accounts/login/", **TURKISH)


def test_the_language_switch_beats_the_browser(dcs_up):
    user, book = student_with_book()
    client = signed_in(user)
    response = client.post(
        "/i18n/setlang/", {"language": "tr", "next": f"/books/{book.pk}/"}, **ENGLISH
    )
    assert response.status_code == 302
    assert response["Location"] == f"/books/{book.pk}/"
    assert "Kitaplarım" in page_of(client, f"/books/{book.pk}/", **ENGLISH)


def test_subtitle_language_from_the_file_name_and_the_default_follows_the_reader(dcs_up, settings):
    settings.LANGUAGE_CODE = "en"
    user, book = student_with_book(book_name=f"subs-{make_user().pk}")
    folder = book.book_name
    files = {
        "v/lesson-1.mp4": b"x",
        "v/lesson-1.vtt": b"WEBVTT\n",
        "v/lesson-1.tr.vtt": b"WEBVTT\n",
    }
    root = dcs_up.root / book.publisher.name / "books" / folder
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
    client = signed_in(user)

    def tracks(**headers) -> list[str]:
        return re.findall(r"<track [^>]*>", page_of(client, f"/books/{book.pk}/", **headers))

    english = tracks()
    assert [re.search(r'srclang="(\w+)" label="([^"]+)"', t).groups() for t in english] == [
        ("en", "English"),
        ("tr", "Türkçe"),
    ]
    assert [" default" in t for t in english] == [True, False]
    assert [" default" in t for t in tracks(**TURKISH)] == [False, True]


def test_api_detail_texts_follow_the_language(dcs_up):
    user, book = student_with_book()
    client = signed_in(user)
    media = f"/api/v1/books/{book.pk}/media/"
    cases = [
        (media + "audio/missing.mp3", 404, "Medya bulunamadı."),
        (f"/api/v1/books/{uuid.uuid4()}/media/a.mp3", 404, "Kitap bulunamadı."),
        (media + "a//b.mp3", 400, "Medya yolu boş, '.' veya '..' olan bir bölüm içeriyor."),
    ]
    for url, status, detail in cases:
        response = client.get(url, **TURKISH)
        assert (response.status_code, response.json()) == (status, {"detail": detail}), url
        assert client.get(url, **ENGLISH).json()["detail"] != detail
    stranger = signed_in(make_user()).get(media + "audio/08.mp3", **TURKISH)
    assert stranger.json() == {"detail": "Bu kitaba erişiminiz yok."}
    # The media bytes carry no language headers: the same file for every reader.
    response = client.get(media + "audio/08.mp3", HTTP_RANGE="bytes=0-1", **TURKISH)
    assert response.status_code == 206
    assert response["Vary"] == "Cookie, Authorization"
    assert "Content-Language" not in response


# --- errors people understand ---------------------------------------------------------------


def test_branded_404_and_500_pages():
    response = Client().get("/no/such/page/", **ENGLISH)
    assert response.status_code == 404
    page = response.content.decode()
    assert "We can't find that page" in page
    assert "Dream LMS" in page
    assert "Bu sayfayı bulamıyoruz" in Client().get("/nope/", **TURKISH).content.decode()
    with translation.override("en"):
        response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong on our side" in page
    assert "Dream LMS" in page


def test_login_keeps_the_username_after_a_failed_attempt():
    make_user("ayse", password="right-pass-123")
    response = Client().post(
        "/accounts/login/", {"username": "ayse", "password": "wrong"}, **ENGLISH
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Your username and password didn't match." in page
    assert re.search(r'<input type="text" name="username" id="id_username" value="ayse"', page)
    assert 'aria-invalid="true"' in page


def test_a_logged_out_navigation_to_a_media_url_goes_to_login_and_back(dcs_up):
    user, book = student_with_book()
    url = f"/api/v1/books/{book.pk}/media/{quote('Ünite 1/müzik.mp3')}"
    for headers in (NAVIGATION, {"HTTP_ACCEPT": "text/html,application/xhtml+xml,*/*;q=0.8"}):
        response = Client().get(url, **headers)
        assert response.status_code == 302, headers
        location = urlsplit(response["Location"])
        assert location.path == "/accounts/login/"
        assert parse_qs(location.query) == {"next": [url]}
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": user.username, "password": "pw-test-123", "next": url}
    )
    assert response.status_code == 302
    assert response["Location"] == url
    assert client.get(url, **NAVIGATION).status_code == 200


def fetch_metadata(mode: str, dest: str) -> dict[str, str]:
    return {"HTTP_SEC_FETCH_MODE": mode, "HTTP_SEC_FETCH_DEST": dest}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="API client"),
        pytest.param({"HTTP_ACCEPT": "*/*"}, id="curl"),
        pytest.param(
            {"HTTP_SEC_FETCH_MODE": "no-cors", "HTTP_SEC_FETCH_DEST": "audio"}, id="audio"
        ),
        pytest.param({"HTTP_SEC_FETCH_MODE": "cors", "HTTP_SEC_FETCH_DEST": "empty"}, id="fetch"),
        pytest.param(
            {"HTTP_SEC_FETCH_MODE": "navigate", "HTTP_SEC_FETCH_DEST": "iframe"}, id="iframe"
        ),
        pytest.param(
            {"HTTP_ACCEPT": "text/html", "HTTP_RANGE": "bytes=0-"}, id="old media element"
        ),
    ],
)
def test_media_elements_and_api_clients_keep_json(dcs_up, headers):
    _, book = student_with_book()
    response = Client().get(f"/api/v1/books/{book.pk}/media/audio/08.mp3", **headers)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"] == "Bearer"


def signed(user, book, path: str, age: int = 0) -> str:
    """A link to `path` signed `age` seconds ago."""
    with mock.patch.object(
        signing, "time", mock.Mock(time=mock.Mock(return_value=time.time() - age))
    ):
        token = signing.dumps(
            {"u": user.pk, "b": str(book.pk), "p": path}, salt=SALT, compress=True
        )
    return f"/api/v1/books/{book.pk}/media/{quote(path)}?{QUERY_PARAM}={token}"


def test_an_expired_or_revoked_signed_link_in_a_tab_gets_a_page_that_says_so(dcs_up, settings):
    user, book = student_with_book()
    expired = signed(user, book, "audio/08.mp3", age=settings.MEDIA_LINK_MAX_AGE + 5)
    response = Client().get(expired, **NAVIGATION, **ENGLISH)
    assert response.status_code == 403
    page = response.content.decode()
    assert "This link no longer works" in page
    assert "This media link has expired." in page
    assert (
        "Bu medya bağlantısının süresi doldu."
        in Client().get(expired, **NAVIGATION, **TURKISH).content.decode()
    )
    assert Client().get(expired).json() == {"detail": "This media link has expired."}

    fresh = signed(user, book, "audio/08.mp3")
    assert Client().get(fresh, **NAVIGATION).status_code == 200
    book.assignments.all().delete()  # revoked
    response = Client().get(fresh, **NAVIGATION, **ENGLISH)
    assert response.status_code == 403
    assert "This link no longer works" in response.content.decode()
    assert "You do not have access to this book." in response.content.decode()
    assert Client().get(fresh).json() == {"detail": "You do not have access to this book."}


# --- the admin ------------------------------------------------------------------------------


@pytest.fixture
def admin_client():
    return signed_in(make_user(is_superuser=True, is_staff=True))


def test_admin_preview_lists_files_and_survives_an_outage(dcs_at, dcs, admin_client):
    book = make_book()
    dcs_at(dcs.base_url)
    page = page_of(admin_client, f"/admin/books/book/{book.pk}/change/")
    assert "Dream LMS administration" in page
    assert "Media preview (from DCS)" in page
    assert 'data-media-path="videos/unit 1/intro.mp4"' in page
    assert page.count('class="copy-link"') == page.count('class="media-item"') > 0
    dcs_at(f"http://127.0.0.1:{free_port()}")
    response = admin_client.get(f"/admin/books/book/{book.pk}/change/", **ENGLISH)
    assert response.status_code == 200
    page = response.content.decode()
    assert OUTAGE_MESSAGE in page
    assert 'name="title"' in page  # the rest of the admin page works


def test_admin_shows_the_status_badge(dcs_up, admin_client):
    book = make_book(status=Book.Status.ARCHIVED, title="Old")
    page = page_of(admin_client, "/admin/books/book/")
    assert 'Old <span class="badge badge-archived">Archived</span>' in page
    page = page_of(admin_client, f"/admin/books/book/{book.pk}/change/")
    assert '<h2>Old <span class="badge badge-archived">Archived</span></h2>' in page


def test_admin_copy_link_makes_a_signed_link_with_the_chosen_lifetime(dcs_up, admin_client):
    book = make_book()
    url = f"/admin/books/book/{book.pk}/media-link/"
    before = timezone.now()
    response = admin_client.post(url, {"path": "audio/08.mp3", "lifetime": "900"})
    assert response.status_code == 201
    answer = response.json()
    assert answer["lifetime"] == "15 minutes"
    expires = timezone.datetime.fromisoformat(answer["expires_at"])
    assert before + timedelta(seconds=899) < expires < timezone.now() + timedelta(seconds=901)
    link = urlsplit(answer["url"])
    assert link.path == f"/api/v1/books/{book.pk}/media/audio/08.mp3"
    played = Client().get(f"{link.path}?{link.query}", HTTP_RANGE="bytes=0-9")
    assert played.status_code == 206
    for data, status in [
        ({"path": "audio/08.mp3", "lifetime": "7"}, 400),  # not a lifetime offered
        ({"path": "audio/08.mp3", "lifetime": str(10**9)}, 400),
        ({"path": "../x", "lifetime": "900"}, 400),
    ]:
        response = admin_client.post(url, data)
        assert response.status_code == status, data
        assert response.json()["detail"]
    assert admin_client.get(url).status_code == 405
    outsider = signed_in(make_user(is_staff=True))
    assert outsider.post(url, {"path": "audio/08.mp3", "lifetime": "900"}).status_code == 403
    response = Client().post(url, {"path": "audio/08.mp3", "lifetime": "900"})
    assert response.status_code == 302  # to the admin's login
    assert urlsplit(response["Location"]).path == "/admin/login/"


def test_admin_messages_reach_the_next_page_and_api_requests_make_no_storage(
    dcs_up, admin_client, monkeypatch
):
    """lms.middleware.MessageMiddleware makes the message storage on first use only."""
    made = []

    def counted(request):
        made.append(request.path)
        return default_storage(request)

    monkeypatch.setattr(lms_middleware, "default_storage", counted)
    publisher = make_book().publisher
    response = admin_client.post(
        f"/admin/books/publisher/{publisher.pk}/change/",
        {"name": "Renamed"},
        follow=True,
        **ENGLISH,
    )
    assert response.status_code == 200
    assert "was changed successfully" in response.content.decode()
    assert made  # the admin's message was stored and shown
    made.clear()
    user, _ = student_with_book()
    assert Client().get("/api/v1/me", headers=bearer(user)).status_code == 200
    assert made == []
