"""A media URL opened in a tab gets pages; media elements and API clients keep their JSON.

Chromium tells a tab's navigation from a media element's request by Fetch
Metadata (Sec-Fetch-Mode/-Dest); `requests` sends none of it and stands for
the API clients, players and tools.
"""

import time
from unittest import mock
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from django.conf import settings
from django.core import signing
from playwright.sync_api import expect

from media_proxy.signing import QUERY_PARAM, SALT
from tests.browser.conftest import DEMO_PASSWORD, TIMEOUT_MS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.wire]

PATH = "Ünite 1/müzik.mp3"


def media_path(book, path: str = PATH) -> str:
    return f"/api/v1/books/{book.pk}/media/{quote(path)}"


def signed_link(user_id: int, book, path: str, age: float = 0) -> str:
    """A signed link to `path`, made `age` seconds ago (as media_proxy.signing makes it)."""
    clock = mock.Mock(time=mock.Mock(return_value=time.time() - age))
    with mock.patch.object(signing, "time", clock):
        claims = {"u": user_id, "b": str(book.pk), "p": path}
        token = signing.dumps(claims, salt=SALT, compress=True)
    return f"{media_path(book, path)}?{QUERY_PARAM}={token}"


def test_a_logged_out_tab_goes_to_the_login_page_and_back_to_the_file(page, lms, demo_book):
    url = media_path(demo_book)
    response = page.goto(url)
    assert response.status == 200
    location = urlsplit(page.url)
    assert location.path == "/accounts/login/"
    assert parse_qs(location.query) == {"next": [url]}
    expect(page.locator("main")).to_contain_text("Please sign in to continue.")

    page.fill("#id_username", "demo-student")
    page.fill("#id_password", DEMO_PASSWORD)
    with page.expect_response(lambda r: urlsplit(r.url).path == url) as served:
        page.click("main button[type=submit]")
    assert served.value.status in (200, 206)
    assert served.value.headers["content-type"] == "audio/mpeg"
    assert urlsplit(page.url).path == url
    # Chromium shows the file in its own player page.
    page.wait_for_function(
        "() => { const m = document.querySelector('video, audio'); return m?.readyState >= 1; }",
        timeout=TIMEOUT_MS,
    )


def test_a_media_element_and_an_api_client_keep_the_json_401(page, lms, demo_book):
    url = media_path(demo_book)
    page.goto("/accounts/login/")
    statuses = []
    page.on(
        "response",
        lambda r: (
            statuses.append((r.status, r.headers.get("content-type")))
            if urlsplit(r.url).path == url
            else None
        ),
    )
    outcome = page.evaluate(
        """([url, timeout]) => new Promise((resolve) => {
          const audio = document.createElement("audio");
          audio.preload = "auto";
          audio.addEventListener("error", () => resolve({ code: audio.error.code }));
          audio.addEventListener("loadedmetadata", () => resolve({ loaded: true }));
          setTimeout(() => resolve({ timeout: true }), timeout);
          audio.src = url;
          document.body.append(audio);
        })""",
        [url, TIMEOUT_MS],
    )
    assert outcome.get("code") in (2, 4), outcome
    assert statuses
    assert set(statuses) == {(401, "application/json")}, statuses

    answer = requests.get(lms.url(url), timeout=10, allow_redirects=False)
    assert answer.status_code == 401
    assert answer.json() == {"detail": "Authentication credentials were not provided."}


def test_an_expired_signed_link_in_a_tab_gets_a_page_that_says_so(page, lms, demo_book):
    student = demo_book.assignments.get().group.user_set.get()
    url = signed_link(student.pk, demo_book, PATH, age=settings.MEDIA_LINK_MAX_AGE + 60)
    response = page.goto(url)
    assert response.status == 403
    expect(page).to_have_title("This link no longer works · Dream LMS")
    expect(page.locator("h1")).to_have_text("This link no longer works")
    expect(page.locator("main")).to_contain_text("This media link has expired.")

    answer = requests.get(lms.url(url), timeout=10)
    assert answer.status_code == 403
    assert answer.json() == {"detail": "This media link has expired."}


def test_a_revoked_signed_link_in_a_tab_gets_a_page_that_says_so(page, lms, demo_book):
    student = demo_book.assignments.get().group.user_set.get()
    url = signed_link(student.pk, demo_book, PATH)
    assert requests.get(lms.url(url), timeout=10).status_code == 200  # valid until revoked
    demo_book.assignments.all().delete()
    response = page.goto(url)
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("This link no longer works")
    expect(page.locator("main")).to_contain_text("You do not have access to this book.")
    answer = requests.get(lms.url(url), timeout=10)
    assert answer.json() == {"detail": "You do not have access to this book."}


def test_branded_404_page(page, lms, demo_book):
    response = page.goto("/books/not-a-page/")
    assert response.status == 404
    expect(page).to_have_title("Page not found · Dream LMS")
    expect(page.locator("h1")).to_have_text("We can't find that page")
    sign_in(page, "demo-student", "/books/")
    response = page.goto(media_path(demo_book, "audio/no-such-file.mp3"))
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("We can't find that page")
