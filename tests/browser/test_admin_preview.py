"""The admin's book page in a real browser: the media preview plays, "Copy link" makes a
signed link with the chosen lifetime, the assignment inline fits 1280 px, Draft/Archived
badges and the LMS's own header."""

from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import expect

from books.models import Book
from tests.browser.conftest import (
    BOOK_MEDIA,
    PLAYABLE,
    assert_no_errors,
    assert_partial_responses,
    media_element,
    play_and_seek,
    sign_in_admin,
)

pytestmark = [pytest.mark.browser, pytest.mark.wire]

VIDEO = "video/lesson-1.mp4"
AUDIO = "audio/01-welcome.mp3"


@pytest.fixture
def admin_page(page, demo_book):
    sign_in_admin(page, "demo-admin", f"/admin/books/book/{demo_book.pk}/change/")
    return page


def test_admin_preview_plays_and_seeks_the_video(traffic, admin_page):
    page = admin_page
    preview = page.locator("#media-preview")
    expect(preview.locator("h2")).to_have_text("Media preview (from DCS)")
    assert preview.locator(".errornote").count() == 0
    paths = preview.locator("[data-media-path]").evaluate_all(
        "els => els.map(el => el.dataset.mediaPath)"
    )
    assert sorted(paths) == sorted(PLAYABLE)

    video = media_element(page, VIDEO, scope="#media-preview")
    (reached,) = play_and_seek(page, video, [20.0])
    assert 20.0 < reached < 23.0
    assert_partial_responses(traffic, VIDEO)
    assert_no_errors(traffic)


def test_copy_link_makes_a_signed_link_with_the_chosen_lifetime(
    admin_page, context, lms, demo_book
):
    page = admin_page
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lms.base_url)
    box = page.locator(f'#media-preview [data-copy-link][data-path="{AUDIO}"]')
    expect(box.locator("select")).to_have_accessible_name("How long the link to Welcome is valid")
    box.locator("select").select_option(label="15 minutes")
    box.get_by_role("button", name="Copy link to Welcome").click()
    expect(box.locator("output")).to_contain_text("Copied. Valid until")
    expect(box.locator("output")).to_contain_text("(15 minutes)")
    url = box.locator("input[type=url]").input_value()
    assert page.evaluate("() => navigator.clipboard.readText()") == url
    link = urlsplit(url)
    assert link.path == f"/api/v1/books/{demo_book.pk}/media/{AUDIO}"
    assert link.query.startswith("sig=")
    # What a player such as VLC does with it: no cookie, no header.
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200
    assert answer.content == (BOOK_MEDIA / AUDIO).read_bytes()


def test_the_assignment_inline_fits_a_1280_px_screen(admin_page):
    page = admin_page
    assert page.viewport_size["width"] == 1280
    page.locator("#assignments-group .add-row a").click()
    expect(page.locator("#assignments-group tr.form-row:not(.empty-form)")).to_have_count(2)
    sizes = page.evaluate(
        """() => {
          const table = document.querySelector("#assignments-group table");
          const group = document.querySelector("#assignments-group");
          return {
            page: document.documentElement.scrollWidth,
            table: table.getBoundingClientRect().right,
            group: group.getBoundingClientRect().right,
            scroll: [table.parentElement.scrollWidth, table.parentElement.clientWidth],
          };
        }"""
    )
    assert sizes["page"] <= 1280, sizes
    assert sizes["table"] <= sizes["group"] + 0.5, sizes
    assert sizes["scroll"][0] <= sizes["scroll"][1], sizes


def test_admin_has_the_lms_header_and_status_badges(page, demo_book):
    draft = Book.objects.get(book_name="history-9")
    sign_in_admin(page, "demo-admin", "/admin/books/book/")
    expect(page.locator("#site-name")).to_have_text("Dream LMS administration")
    expect(page).to_have_title("Select book to change | Dream LMS admin")
    row = page.locator("#result_list tr", has_text=draft.title)
    expect(row.locator(".badge")).to_have_text("Draft")
    expect(page.locator("#result_list .badge")).to_have_count(1)
    page.goto(f"/admin/books/book/{draft.pk}/change/")
    expect(page.locator("#content h2").first).to_contain_text("Draft")
    expect(page.locator("#media-preview .badge")).to_have_text("Draft")
