"""Turkish and English in Chromium: the browser's language, and the switch on every page."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import TIMEOUT_MS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.wire]


def test_a_turkish_browser_gets_turkish_pages(browser, lms, demo_book):
    context = browser.new_context(base_url=lms.base_url, locale="tr-TR")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(f"/books/{demo_book.pk}/")
        expect(page.locator("html")).to_have_attribute("lang", "tr")
        expect(page.locator("h1")).to_have_text("Giriş yap")
        page.fill("#id_username", "demo-student")
        page.fill("#id_password", "wrong")
        page.click("main button[type=submit]")
        expect(page.locator("[role=alert]")).to_contain_text("eşleşmedi")
        expect(page.locator("#id_username")).to_have_value("demo-student")
    finally:
        context.close()


def test_the_switch_changes_the_language_and_the_default_subtitles(page, demo_book):
    sign_in(page, "demo-student", f"/books/{demo_book.pk}/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    with page.expect_navigation():
        page.get_by_role("button", name="Türkçe").click()
    expect(page.locator("html")).to_have_attribute("lang", "tr")
    expect(page.locator("h1")).to_have_text(demo_book.title)  # back on the same page
    expect(page.get_by_role("link", name="← Kitaplarım")).to_be_visible()
    expect(page.locator(".unit h2").first).to_have_text("Ses")
    menu = page.locator('[data-player]:has([data-media-path="video/lesson-1.mp4"]) select')
    expect(menu).to_have_value("tr")
    expect(menu).to_have_accessible_name("Lesson 1 altyazıları")
    with page.expect_navigation():
        page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(menu).to_have_value("en")
