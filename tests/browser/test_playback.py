"""The course page in a real browser: sign in, play, seek, subtitles, and no access for others.

Chromium's media stack is the client that matters: it asks for byte ranges
(`bytes=N-`). The demo files are small enough to be buffered whole, so a
proxy answering 200 would still seek here, while on a real lesson every seek
would download from byte 0; so every media response is recorded and must be
a 206 for exactly the range asked.
"""

from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from media_proxy.outline import PRELOAD_METADATA_LIMIT
from tests.browser.conftest import (
    BOOK_MEDIA,
    PLAYABLE,
    TIMEOUT_MS,
    assert_no_errors,
    assert_partial_responses,
    media_element,
    media_state,
    play_and_seek,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.wire]

DURATION = 36.0  # every demo audio/video file lasts 36 s
SEEK_TARGETS = [5.0, 20.0, 34.0]


@pytest.fixture
def student_page(page, traffic, demo_book):
    """demo-student, signed in through the login page, on the english-7 book page."""
    sign_in(page, "demo-student", f"/books/{demo_book.pk}/")
    expect(page.locator("h1")).to_have_text(demo_book.title)
    return page


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    def seconds(stamp: str) -> float:
        hours, minutes, rest = (["0", *stamp.split(":")])[-3:]
        return int(hours) * 3600 + int(minutes) * 60 + float(rest)

    cues = []
    for block in text.replace("\r\n", "\n").strip().split("\n\n")[1:]:  # after the WEBVTT header
        lines = block.splitlines()
        timing = next(i for i, line in enumerate(lines) if "-->" in line)
        start, end = (part.split()[0] for part in lines[timing].split("-->"))
        cues.append((seconds(start), seconds(end), "\n".join(lines[timing + 1 :])))
    return cues


def test_student_page_has_a_player_for_every_media_file(student_page, traffic):
    """One <audio>/<video> per demo file, of the right type, named by its title, none broken;
    only the first few load with the page."""
    players = student_page.eval_on_selector_all(
        "[data-media-path]",
        """els => els.map(el => ({
          path: el.dataset.mediaPath,
          tag: el.tagName.toLowerCase(),
          type: el.querySelector("source").type,
          src: el.querySelector("source").getAttribute("src"),
          name: el.getAttribute("aria-label"),
          preload: el.preload,
        }))""",
    )
    assert {p["path"]: (p["tag"], p["type"]) for p in players} == PLAYABLE
    for player in players:
        assert player["src"].endswith("/media/" + quote(player["path"])), player
        assert player["name"], player
    assert student_page.locator("[role=alert]:visible").count() == 0  # no outage message
    eager = [p["path"] for p in players if p["preload"] == "metadata"]
    assert len(eager) == PRELOAD_METADATA_LIMIT
    assert {"video/lesson-1.mp4", "video/lesson-2.webm"} <= set(eager)  # videos first
    student_page.wait_for_function(
        "() => [...document.querySelectorAll('[data-media-path]')]"
        ".every(el => el.error || el.preload === 'none' || el.readyState >= 1)",
        timeout=TIMEOUT_MS,
    )
    cover = student_page.locator("img.cover")
    expect(cover).to_have_attribute("alt", "Cover of English 7: Sounds and Stories")
    student_page.wait_for_function(
        "(img) => img.complete", arg=cover.element_handle(), timeout=TIMEOUT_MS
    )
    assert cover.evaluate("(img) => img.naturalWidth") > 0, "the cover image did not load"
    broken = student_page.eval_on_selector_all(
        "[data-media-path]", "els => els.filter(el => el.error).map(el => el.dataset.mediaPath)"
    )
    assert broken == []
    loaded = {r.path for r in traffic.responses}
    lazy = set(PLAYABLE) - set(eager)
    assert not loaded & lazy, f"players that load only when played loaded:\n{traffic.describe()}"
    assert_no_errors(traffic)


@pytest.mark.parametrize("path", list(PLAYABLE))
def test_playback_seeks_with_partial_responses(student_page, traffic, path):
    """Playing and seeking (also near the end) reaches each position; every answer is a 206."""
    element = media_element(student_page, path)
    reached = play_and_seek(student_page, element, SEEK_TARGETS)

    for target, time in zip(SEEK_TARGETS, reached, strict=True):
        assert target < time < target + 3, f"seek to {target}s played from {time}s"
    state = media_state(element)
    assert state["duration"] == pytest.approx(DURATION, abs=0.5)
    # Chromium only makes a resource seekable end to end when the server honours ranges.
    assert len(state["seekable"]) == 1, state
    assert state["seekable"][0][0] == 0
    assert state["seekable"][0][1] == pytest.approx(state["duration"], abs=0.01)
    assert_partial_responses(traffic, path)
    assert_no_errors(traffic)


_TRACKS = """(el) => Array.from(el.textTracks, (t, i) => ({
  readyState: el.querySelectorAll("track")[i].readyState,
  kind: t.kind, label: t.label, language: t.language, mode: t.mode,
  cues: t.cues ? Array.from(t.cues, (c) => [c.startTime, c.endTime, c.text]) : null,
}))"""


def test_video_subtitle_tracks_have_the_vtt_cues_in_both_languages(student_page, traffic):
    """lesson-1.vtt (the site language) shows by default; lesson-1.tr.vtt is "Türkçe", picked
    from the page's subtitles menu. Both load through the proxy, cue for cue."""
    video = media_element(student_page, "video/lesson-1.mp4")
    student_page.wait_for_function(
        "(el) => el.querySelector('track').readyState >= 2", arg=video, timeout=TIMEOUT_MS
    )
    english, turkish = video.evaluate(_TRACKS)
    assert english["readyState"] == 2, "the track failed to load (readyState 3 is ERROR)"
    assert (english["kind"], english["label"], english["language"], english["mode"]) == (
        "subtitles",
        "English",
        "en",
        "showing",
    )
    assert (turkish["label"], turkish["language"], turkish["mode"]) == ("Türkçe", "tr", "disabled")
    expected = parse_vtt((BOOK_MEDIA / "video" / "lesson-1.vtt").read_text(encoding="utf-8"))
    assert len(english["cues"]) == len(expected) > 0
    assert english["cues"][0][2] == "Welcome to English 7, Lesson 1: Meeting New People."
    assert [tuple(cue) for cue in english["cues"]] == expected  # Turkish letters included

    menu = student_page.locator('[data-player]:has([data-media-path="video/lesson-1.mp4"]) select')
    expect(menu).to_have_value("en")
    menu.select_option("tr")
    student_page.wait_for_function(
        "(el) => el.querySelectorAll('track')[1].readyState >= 2", arg=video, timeout=TIMEOUT_MS
    )
    english, turkish = video.evaluate(_TRACKS)
    assert (english["mode"], turkish["mode"]) == ("disabled", "showing")
    expected = parse_vtt((BOOK_MEDIA / "video" / "lesson-1.tr.vtt").read_text(encoding="utf-8"))
    assert [tuple(cue) for cue in turkish["cues"]] == expected
    assert turkish["cues"][0][2].startswith("İngilizce 7'ye hoş geldiniz")

    for path in ("video/lesson-1.vtt", "video/lesson-1.tr.vtt"):
        (subtitle,) = traffic.for_path(path)
        assert subtitle.status == 200
        assert subtitle.headers["content-type"].startswith("text/vtt")
    assert_no_errors(traffic)


def test_audio_captions_show_as_text_when_chosen(student_page, traffic):
    """An audio track's transcript (02 Numbers.vtt / .tr.vtt): off until chosen, then its cues
    appear as text under the player while it plays."""
    path = "Ünite 2/02 Numbers.mp3"
    player = student_page.locator(f'[data-player]:has([data-media-path="{path}"])')
    menu = player.locator("select")
    expect(menu).to_have_value("")
    expect(player.locator("[data-cue]")).to_be_hidden()
    menu.select_option("tr")
    audio = media_element(student_page, path)
    play_and_seek(student_page, audio, [5.0])
    expect(player.locator("[data-cue]")).to_have_text("Bir, iki, üç.")
    assert_no_errors(traffic)


def test_outsider_gets_a_readable_no_access_page_and_no_media(page, traffic, demo_book):
    """demo-outsider: 403 page, 403 from fetch(), and a media element that errors."""
    book_path = f"/books/{demo_book.pk}/"
    sign_in(page, "demo-outsider", "/books/")
    expect(page.locator("main")).to_contain_text("No books are assigned to you yet.")

    response = page.goto(book_path)
    assert response.status == 403
    expect(page).to_have_title("No access · Dream LMS")
    expect(page.locator("h1")).to_have_text("You don't have access to this book")
    assert page.locator("[data-media-path]").count() == 0

    url = f"/api/v1/books/{demo_book.pk}/media/video/lesson-1.mp4"
    fetched = page.evaluate(
        """async (url) => {
          const r = await fetch(url, { headers: { Range: "bytes=0-" } });
          return { status: r.status, type: r.headers.get("content-type"), body: await r.text() };
        }""",
        url,
    )
    assert fetched["status"] == 403, fetched
    assert fetched["type"].startswith("application/json"), fetched
    assert "do not have access" in fetched["body"]

    outcome = page.evaluate(
        """([url, timeout]) => new Promise((resolve) => {
          const video = document.createElement("video");
          video.muted = true;
          video.preload = "auto";
          video.addEventListener("error", () => resolve({ code: video.error.code }));
          video.addEventListener("loadedmetadata", () => resolve({ loaded: true }));
          setTimeout(() => resolve({ timeout: true }), timeout);
          video.src = url;
          document.body.append(video);
        })""",
        [url, TIMEOUT_MS],
    )
    # MEDIA_ERR_NETWORK (2) or MEDIA_ERR_SRC_NOT_SUPPORTED (4): the element got no media.
    assert outcome.get("code") in (2, 4), outcome
    statuses = [r.status for r in traffic.for_path("video/lesson-1.mp4")]
    assert statuses, traffic.describe()
    assert set(statuses) == {403}, traffic.describe()
