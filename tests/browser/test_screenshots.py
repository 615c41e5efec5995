"""The README's pictures of the pages, taken from the running LMS at 1280x900.

Each test checks its page and takes its picture. With LMS_SCREENSHOT=1 the
pictures replace the ones in docs/ (the README shows them), so they stay true.
"""

import os
import shutil
import time
from pathlib import Path
from unittest import mock
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core import signing
from playwright.sync_api import Page, expect

from media_proxy.signing import QUERY_PARAM, SALT
from tests.browser.conftest import DEMO_PASSWORD, TIMEOUT_MS, sign_in, sign_in_admin
from tests.conftest import ROOT
from tests.media import DEMO_MEDIA

pytestmark = [pytest.mark.browser, pytest.mark.wire]

DOCS = ROOT / "docs"


def save(page: Page, name: str, tmp_path: Path, full_page: bool = False) -> Path:
    """The page's picture: docs/{name} with LMS_SCREENSHOT=1, else a throwaway file."""
    target = DOCS / name if os.environ.get("LMS_SCREENSHOT") == "1" else tmp_path / name
    page.screenshot(path=str(target), full_page=full_page)
    assert target.read_bytes().startswith(b"\x89PNG")
    assert 10_000 < target.stat().st_size < 400_000, target.stat().st_size
    return target


def settle_players(page: Page) -> None:
    """Players that load with the page settled (first frame shown, loading suspended), images
    loaded: no spinner in the picture."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('video')]"
        ".every(v => v.preload === 'none' || v.readyState >= 2)"
        " && [...document.querySelectorAll('[data-media-path]')]"
        ".every(el => el.networkState !== HTMLMediaElement.NETWORK_LOADING)"
        " && [...document.images].every(i => i.complete)",
        timeout=TIMEOUT_MS,
    )
    # Chromium hides a player's loading spinner only at the end of its animation cycle
    # (inside the closed controls shadow root, so nothing to poll): give it that cycle.
    page.wait_for_timeout(1500)


@pytest.fixture
def all_covers(media_root):
    """The other demo books' folders (their covers) in the emulator's store too."""
    for book in ("science-8", "history-9"):
        target = media_root / "DreamPress" / "books" / book
        shutil.copytree(DEMO_MEDIA / book, target, dirs_exist_ok=True)


def test_book_page_screenshot(page, demo_book, tmp_path):
    sign_in(page, "demo-student", f"/books/{demo_book.pk}/")
    expect(page.locator("h1")).to_have_text(demo_book.title)
    settle_players(page)
    save(page, "book-page.png", tmp_path)


def test_book_page_in_turkish_screenshot(page, demo_book, tmp_path):
    """Ünite 2 and the videos in Turkish: an audio transcript and the video's subtitles."""
    sign_in(page, "demo-student", f"/books/{demo_book.pk}/")
    with page.expect_navigation():
        page.get_by_role("button", name="Türkçe").click()
    numbers = page.locator('[data-player]:has([data-media-path="Ünite 2/02 Numbers.mp3"])')
    numbers.locator("select").select_option("tr")
    audio = numbers.locator("audio")
    audio.evaluate("(el) => { el.muted = true; el.currentTime = 5; return el.play(); }")
    expect(numbers.locator("[data-cue]")).to_have_text("Bir, iki, üç.")
    audio.evaluate("(el) => el.pause()")
    video = page.locator('[data-media-path="video/lesson-1.mp4"]')
    video.evaluate("(el) => { el.currentTime = 9; }")
    page.wait_for_function(
        "(el) => el.textTracks[1].activeCues && el.textTracks[1].activeCues.length > 0",
        arg=video.element_handle(),
        timeout=TIMEOUT_MS,
    )
    numbers.evaluate("(el) => el.closest('.track').scrollIntoView()")
    settle_players(page)
    save(page, "book-page-tr.png", tmp_path)


def test_book_list_screenshot(page, demo_book, all_covers, tmp_path):
    sign_in(page, "demo-publisher", "/books/")
    expect(page.locator(".book-card")).to_have_count(3)
    expect(page.locator(".badge-draft")).to_have_text("Draft")
    page.wait_for_function(
        "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)",
        timeout=TIMEOUT_MS,
    )
    save(page, "book-list.png", tmp_path)


def test_login_screenshot(page, lms, demo_book, tmp_path):
    page.goto("/books/")
    page.fill("#id_username", "demo-student")
    page.fill("#id_password", DEMO_PASSWORD + "-typo")
    with page.expect_navigation():
        page.click("main button[type=submit]")
    expect(page.locator("#id_username")).to_have_value("demo-student")
    save(page, "login.png", tmp_path)


def test_admin_preview_screenshot(page, context, lms, demo_book, tmp_path):
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lms.base_url)
    sign_in_admin(page, "demo-admin", f"/admin/books/book/{demo_book.pk}/change/")
    page.locator("#media-preview").scroll_into_view_if_needed()
    box = page.locator('#media-preview [data-copy-link][data-path="audio/01-welcome.mp3"]')
    box.locator("button").click()
    expect(box.locator("output")).to_contain_text("Copied.")
    page.evaluate("() => document.querySelector('#media-preview').scrollIntoView()")
    settle_players(page)
    save(page, "admin-preview.png", tmp_path)


def test_expired_link_screenshot(page, lms, demo_book, tmp_path):
    student = demo_book.assignments.get().group.user_set.get()
    path = "Ünite 1/müzik.mp3"
    with mock.patch.object(
        signing, "time", mock.Mock(time=mock.Mock(return_value=time.time() - 86400))
    ):
        claims = {"u": student.pk, "b": str(demo_book.pk), "p": path}
        token = signing.dumps(claims, salt=SALT, compress=True)
    assert settings.MEDIA_LINK_MAX_AGE < 86400
    page.goto(f"/api/v1/books/{demo_book.pk}/media/{quote(path)}?{QUERY_PARAM}={token}")
    expect(page.locator("h1")).to_have_text("This link no longer works")
    save(page, "link-expired.png", tmp_path)
