"""Headless Chromium against the LMS under gunicorn: browser, pages, demo data, helpers.

One browser serves the whole browser package; each test gets a fresh context
(its own cookies and cache), so nothing a test plays is served to the next
from the browser's cache.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, BrowserContext, ElementHandle, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from books.models import Book
from tests.conftest import require_tool
from tests.media import DEMO_MEDIA

#: every wait in the browser suite is bounded by this
TIMEOUT_MS = 15_000
DEMO_PASSWORD = "demo-browser-pass"
DEMO_PUBLISHER = "DreamPress"
DEMO_BOOK = "english-7"
BOOK_MEDIA = DEMO_MEDIA / DEMO_BOOK
#: the book's players: asset path → (element, <source> type)
PLAYABLE = {
    "audio/01-welcome.mp3": ("audio", "audio/mpeg"),
    "audio/02-dialogue.ogg": ("audio", "audio/ogg"),
    "audio/03-listening.wav": ("audio", "audio/wav"),
    "audio/04-song.m4a": ("audio", "audio/mp4"),
    "Ünite 1/müzik.mp3": ("audio", "audio/mpeg"),  # a non-ASCII path, percent-encoded
    "Ünite 2/01 Greetings.mp3": ("audio", "audio/mpeg"),
    "Ünite 2/02 Numbers.mp3": ("audio", "audio/mpeg"),
    "Ünite 2/03 Colours.mp3": ("audio", "audio/mpeg"),
    "Ünite 2/04 Şarkı.mp3": ("audio", "audio/mpeg"),  # outside Latin-1: read presigned
    "Ünite 2/05 My family.mp3": ("audio", "audio/mpeg"),
    "Ünite 2/06 Review.mp3": ("audio", "audio/mpeg"),
    "video/lesson-1.mp4": ("video", "video/mp4"),
    "video/lesson-2.webm": ("video", "video/webm"),
}
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")

# Playwright's own browser download does not work here: Debian's Chromium is used.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-quic",
]


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Headless Chromium for every test of this package, closed after the last one.

    Playwright's sync API keeps an asyncio loop registered as running on this
    thread while it is started, so Django's ORM would refuse every query
    (SynchronousOnlyOperation) for seeding and the per-test flush. Nothing here
    runs async code, so the guard is lifted for exactly as long as Playwright
    runs; package scope keeps both out of the rest of the session.
    """
    chromium = require_tool("chromium")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=chromium, args=LAUNCH_ARGS, headless=True
            )
            yield launched
            launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def context(browser, lms) -> Iterator[BrowserContext]:
    ctx = browser.new_context(
        base_url=lms.base_url, viewport={"width": 1280, "height": 900}, locale="en-US"
    )
    ctx.set_default_timeout(TIMEOUT_MS)
    ctx.set_default_navigation_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context) -> Page:
    return context.new_page()


@pytest.fixture
def demo_book(lms, tmp_path) -> Book:
    """The demo data (users, books, assignments) committed for the server; media is in DCS.

    The emulator's root already holds the demo media, so seed_demo copies its
    files into a throwaway folder.
    """
    call_command(
        "seed_demo", password=DEMO_PASSWORD, dcs_root=str(tmp_path / "dcs"), stdout=io.StringIO()
    )
    return Book.objects.select_related("publisher").get(
        publisher__name=DEMO_PUBLISHER, book_name=DEMO_BOOK
    )


# --- network recording ----------------------------------------------------------------------


@dataclass(frozen=True)
class MediaResponse:
    path: str  # the asset path, decoded
    status: int
    headers: dict[str, str]  # lower-case names
    range: str | None  # the request's Range header

    def __str__(self) -> str:
        return (
            f"{self.status} {self.path!r} Range={self.range!r} "
            f"Content-Range={self.headers.get('content-range')!r}"
        )


class MediaTraffic:
    """Every response of the media endpoint a page received, by asset path."""

    def __init__(self, page: Page) -> None:
        self.responses: list[MediaResponse] = []
        page.on("response", self._record)

    def _record(self, response) -> None:
        path = unquote(urlsplit(response.url).path)
        prefix, sep, asset = path.partition("/media/")
        if not (sep and prefix.startswith("/api/v1/books/")):
            return
        self.responses.append(
            MediaResponse(
                path=asset,
                status=response.status,
                headers=response.headers,
                range=response.request.headers.get("range"),
            )
        )

    def for_path(self, path: str) -> list[MediaResponse]:
        return [r for r in self.responses if r.path == path]

    def describe(self) -> str:
        return "\n".join(str(r) for r in self.responses) or "(no media responses)"


@pytest.fixture
def traffic(page) -> MediaTraffic:
    return MediaTraffic(page)


def assert_partial_responses(traffic, path: str) -> None:
    """Every response for a played file was a 206 with a Content-Range inside the file."""
    responses = traffic.for_path(path)
    assert responses, f"no response for {path!r}:\n{traffic.describe()}"
    size = (BOOK_MEDIA / path).stat().st_size
    for response in responses:
        assert response.status == 206, f"expected 206 for a media range:\n{traffic.describe()}"
        match = CONTENT_RANGE.fullmatch(response.headers.get("content-range", ""))
        assert match, f"no valid Content-Range: {response}"
        first, last, total = map(int, match.groups())
        assert total == size, response
        assert 0 <= first <= last < size, response
        asked = re.fullmatch(r"bytes=(\d+)-(\d*)", response.range or "")
        assert asked, f"the browser asked without a simple range: {response}"
        assert first == int(asked[1]), response
        if "content-length" in response.headers:
            assert int(response.headers["content-length"]) == last - first + 1, response


def assert_no_errors(traffic) -> None:
    errors = [r for r in traffic.responses if r.status >= 400]
    assert not errors, f"media errors:\n{traffic.describe()}"


# --- page helpers ---------------------------------------------------------------------------


def _sign_in(page: Page, username: str, next_path: str, login_path: str, submit: str) -> None:
    response = page.goto(next_path)
    assert urlsplit(page.url).path == login_path, (
        f"{next_path} did not redirect to {login_path}: {response.status} at {page.url}"
    )
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    with page.expect_navigation() as navigation:
        page.click(submit)
    response = navigation.value
    assert urlsplit(page.url).path == next_path, (
        f"signing in as {username} landed on {page.url} ({response and response.status})"
    )


def sign_in(page: Page, username: str, next_path: str) -> None:
    """Sign in through the LMS's login page (reached by the login_required redirect)."""
    _sign_in(page, username, next_path, "/accounts/login/", "main button[type=submit]")


def sign_in_admin(page: Page, username: str, next_path: str) -> None:
    """Sign in through the admin's login page (reached by the admin's redirect)."""
    _sign_in(page, username, next_path, "/admin/login/", "input[type=submit]")


_START = """(el) => {
  el.muted = true;
  el.__playError = null;
  el.play().catch((e) => { el.__playError = String(e); });
}"""

_SEEK = """([el, target]) => {
  el.__seeked = false;
  el.addEventListener("seeked", () => { el.__seeked = true; }, { once: true });
  el.currentTime = target;
  if (el.paused) el.play().catch((e) => { el.__playError = String(e); });
}"""

# Done when the seek completed and playback went on past the target; an error ends it too.
_REACHED = """([el, target]) => {
  if (el.error) return { error: `MediaError ${el.error.code}: ${el.error.message}` };
  if (el.__playError) return { error: el.__playError };
  if (el.__seeked && !el.paused && el.currentTime > target + 0.25) {
    return { time: el.currentTime };
  }
  return null;
}"""

_STATE = """(el) => ({
  currentTime: el.currentTime,
  paused: el.paused,
  seeked: el.__seeked,
  duration: el.duration,
  readyState: el.readyState,
  seekable: Array.from({ length: el.seekable.length },
                       (_, i) => [el.seekable.start(i), el.seekable.end(i)]),
  error: el.error && el.error.code,
})"""


def media_element(page: Page, path: str, scope: str = "") -> ElementHandle:
    selector = f'{scope} [data-media-path="{path}"]'.strip()
    element = page.wait_for_selector(selector, state="attached")
    assert element is not None, selector
    return element


def play_and_seek(page: Page, element: ElementHandle, targets: list[float]) -> list[float]:
    """Play (muted), seek to each target in turn; the time playback had reached after each."""
    element.evaluate(_START)
    reached = []
    for target in targets:
        page.evaluate(_SEEK, [element, target])
        try:
            result = page.wait_for_function(
                _REACHED, arg=[element, target], polling=50, timeout=TIMEOUT_MS
            ).json_value()
        except PlaywrightTimeout:
            pytest.fail(
                f"playback did not reach {target}s within {TIMEOUT_MS / 1000:.0f}s: "
                f"{element.evaluate(_STATE)}"
            )
        assert "error" not in result, f"seeking to {target}s: {result['error']}"
        reached.append(result["time"])
    element.evaluate("(el) => el.pause()")
    return reached


def media_state(element: ElementHandle) -> dict:
    return element.evaluate(_STATE)
