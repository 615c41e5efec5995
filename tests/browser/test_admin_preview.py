"""The admin's media preview on a Book's change page, played in a real browser."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    PLAYABLE,
    assert_no_errors,
    assert_partial_responses,
    media_element,
    play_and_seek,
    sign_in_admin,
)

pytestmark = [pytest.mark.browser, pytest.mark.wire]

VIDEO = "video/lesson-1.mp4"


def test_admin_preview_plays_and_seeks_the_video(page, traffic, demo_book):
    change_path = f"/admin/books/book/{demo_book.pk}/change/"
    sign_in_admin(page, "demo-admin", change_path)
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
