"""A book with 300 audio tracks in 12 units, in Chromium, under the shipped per-user limits.

The suite's usual server lifts the media limits (its tests send thousands of
requests as one user). This one runs its own gunicorn with the defaults
(MEDIA_THROTTLE_RATE, MEDIA_MAX_STREAMS_PER_USER): the page's own loading
behaviour (only a few players load with the page) and those limits must agree,
so that every player works and nothing is answered 429.
"""

import statistics
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import pytest
from django.conf import settings
from playwright.sync_api import expect

from local_servers import stop_process
from media_proxy.outline import PRELOAD_METADATA_LIMIT
from tests import big_book
from tests.browser.conftest import TIMEOUT_MS, MediaTraffic
from tests.conftest import LMSServer, server_env, start_gunicorn
from tests.factories import student_with_book

pytestmark = [pytest.mark.browser, pytest.mark.wire]

#: played at once: a class of players in one page, well inside the per-user stream limit
BATCH = 4

# Plays every player of the page in batches; resolves to the players that failed.
_PLAY_ALL = """async ([batch, timeout]) => {
  const players = [...document.querySelectorAll("audio[data-media-path]")];
  const failed = [];
  const playOne = (el) => new Promise((resolve) => {
    const done = (error) => { el.pause(); resolve(error); };
    const timer = setTimeout(() => done(`no playback within ${timeout} ms`), timeout);
    el.addEventListener("timeupdate", function tick() {
      if (el.currentTime > 0.2) {
        el.removeEventListener("timeupdate", tick); clearTimeout(timer); done(null);
      }
    });
    el.addEventListener("error", () => { clearTimeout(timer); done(`error ${el.error.code}`); });
    el.muted = true;
    el.play().catch((e) => { clearTimeout(timer); done(String(e)); });
  });
  for (let i = 0; i < players.length; i += batch) {
    const group = players.slice(i, i + batch);
    const errors = await Promise.all(group.map(playOne));
    errors.forEach((e, j) => { if (e) failed.push([group[j].dataset.mediaPath, e]); });
  }
  return { played: players.length, failed };
}"""


@pytest.fixture(scope="module")
def strict_lms(django_db_setup, dcs_server, tmp_path_factory) -> Iterator[LMSServer]:
    """The LMS under gunicorn with the shipped per-user media limits."""
    from django.db import connection

    env = server_env(
        dcs_server.base_url,
        connection.settings_dict["NAME"],
        MEDIA_THROTTLE_RATE=settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["media"],
        MEDIA_MAX_STREAMS_PER_USER=str(settings.MEDIA_MAX_STREAMS_PER_USER),
    )
    server = start_gunicorn(env, tmp_path_factory.mktemp("strict") / "gunicorn.log")
    yield server
    stop_process(server.process)


@pytest.fixture
def long_book(strict_lms, transactional_db, dcs, media_root):
    big_book.build_big_book(media_root)
    user, book = student_with_book(book_name=big_book.BOOK, title="Big Book of Listening")
    return user, book


def test_every_player_of_a_300_track_book_works_without_a_429(browser, strict_lms, long_book):
    user, book = long_book
    context = browser.new_context(
        base_url=strict_lms.base_url, viewport={"width": 1280, "height": 900}, locale="en-US"
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in_as(page, user.username, f"/books/{book.pk}/")
        traffic = MediaTraffic(page)
        page.reload()
        expect(page.locator("audio[data-media-path]")).to_have_count(300)
        page.wait_for_load_state("networkidle")

        # The page's own loading: only the first players, never one request per track.
        tracks = [r for r in traffic.responses if r.path != "cover.png"]
        assert {r.path for r in tracks} == set(big_book.track_paths()[:PRELOAD_METADATA_LIMIT])
        assert len(tracks) <= 3 * PRELOAD_METADATA_LIMIT, traffic.describe()

        result = page.evaluate(_PLAY_ALL, [BATCH, TIMEOUT_MS])
        assert result == {"played": 300, "failed": []}
        statuses = [r.status for r in traffic.responses]
        assert 429 not in statuses, traffic.describe()
        errors = [r for r in traffic.responses if r.status >= 400]
        assert not errors, "\n".join(map(str, errors))
        played = {r.path for r in traffic.responses if r.path.endswith(".mp3")}
        assert played == set(big_book.track_paths())
        print(f"\n300 players played with {len(traffic.responses)} media requests")

        # Server time of the page itself (the listing cached), from Navigation Timing.
        timings = []
        for _ in range(5):
            page.reload()
            timings.append(
                page.evaluate(
                    "() => { const n = performance.getEntriesByType('navigation')[0];"
                    " return n.responseEnd - n.requestStart; }"
                )
            )
        median = statistics.median(timings)
        print(f"book page of 300 tracks over HTTP: median {median:.0f} ms ({timings})")
        assert median < 300, timings
    finally:
        context.close()


def sign_in_as(page, username: str, next_path: str) -> None:
    page.goto(next_path)
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-test-123")
    with page.expect_navigation():
        page.click("main button[type=submit]")
    assert unquote(urlsplit(page.url).path) == next_path
