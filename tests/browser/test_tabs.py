"""A media URL opened in a browser tab ("Open video in new tab", a download link, a shared
link) plays or shows, while an .html or .svg in a book still cannot run script as a page
of the LMS (its answer is sandboxed: an opaque origin, no script)."""

from __future__ import annotations

import pytest

from media_proxy.signing import QUERY_PARAM, sign_link
from tests.browser.conftest import TIMEOUT_MS
from tests.factories import make_book, make_user
from tests.wire import media_path

pytestmark = [pytest.mark.browser, pytest.mark.wire]

SCRIPTED = b"<html><body><script>document.title = 'script ran'</script>page</body></html>"
SCRIPTED_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg"><script>document.title = "script ran"</script></svg>'
)


def signed(book, path: str, user) -> str:
    token, _ = sign_link(user.pk, str(book.pk), path)
    return f"{media_path(book, path)}?{QUERY_PARAM}={token}"


@pytest.mark.parametrize("path", ["audio/01-welcome.mp3", "video/lesson-1.mp4"])
def test_audio_and_video_play_in_a_tab(page, demo_book, path):
    user = make_user(is_superuser=True)
    page.goto(signed(demo_book, path, user))
    element = page.wait_for_selector("video", timeout=TIMEOUT_MS)  # Chromium's media document
    page.wait_for_function("(v) => v.readyState >= 1 && v.duration > 30", arg=element)
    assert element.evaluate("(v) => v.error") is None
    element.evaluate("(v) => { v.muted = true; return v.play(); }")
    page.wait_for_function("(v) => v.currentTime > 0.2", arg=element)


def test_a_subtitle_file_shows_as_text_in_a_tab(page, demo_book):
    user = make_user(is_superuser=True)
    response = page.goto(signed(demo_book, "video/lesson-1.vtt", user))
    assert response.status == 200
    assert page.inner_text("body").startswith("WEBVTT")


@pytest.mark.parametrize(("name", "body"), [("page.html", SCRIPTED), ("logo.svg", SCRIPTED_SVG)])
def test_a_page_in_a_book_cannot_run_script_on_the_lms_origin(page, lms, media_root, name, body):
    from tests import media

    book = make_book()
    user = make_user(is_superuser=True)
    target = media_root / media.PUBLISHER / "books" / media.BOOK / "pages" / name
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(body)
    response = page.goto(signed(book, f"pages/{name}", user))
    assert response.status == 200
    assert response.headers["content-security-policy"].startswith("sandbox;")
    assert page.title() != "script ran"
    assert page.evaluate("window.origin") == "null"  # not the LMS's origin
