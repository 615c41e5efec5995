"""Accessibility in Chromium: axe-core (npm, package-lock.json) on the book list, a book page,
the login page and the admin preview; players named by their titles; keyboard focus in page
order; subtitles chosen from the keyboard.

axe-core is installed by `npm ci` (done here when node_modules/ lacks it; npm is a
required tool, see .ci/run).
"""

import json
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PLAYABLE, TIMEOUT_MS, sign_in, sign_in_admin
from tests.conftest import ROOT, require_tool

pytestmark = [pytest.mark.browser, pytest.mark.wire]

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
#: impacts that fail a page; "moderate" and "minor" ones are reported, not failed
FAILING = {"serious", "critical"}
TITLES = {
    "audio/01-welcome.mp3": "Welcome",
    "audio/02-dialogue.ogg": "Dialogue",
    "audio/03-listening.wav": "Listening",
    "audio/04-song.m4a": "Song",
    "Ünite 1/müzik.mp3": "Müzik",
    "Ünite 2/01 Greetings.mp3": "Greetings",
    "Ünite 2/02 Numbers.mp3": "Numbers",
    "Ünite 2/03 Colours.mp3": "Colours",
    "Ünite 2/04 Şarkı.mp3": "Şarkı",
    "Ünite 2/05 My family.mp3": "My family",
    "Ünite 2/06 Review.mp3": "Review",
    "video/lesson-1.mp4": "Lesson 1",
    "video/lesson-2.webm": "Lesson 2",
}


@pytest.fixture(scope="session")
def axe_script() -> Path:
    if not AXE.is_file():
        npm = require_tool("npm")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=ROOT,
            check=True,
            timeout=300,
        )
    assert AXE.is_file(), "npm ci did not install axe-core"
    return AXE


def axe_violations(page: Page, axe_script: Path) -> list[dict]:
    page.add_script_tag(path=str(axe_script))
    return page.evaluate(
        """async () => {
          const result = await axe.run(document, { resultTypes: ["violations"] });
          return result.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
          }));
        }"""
    )


def assert_accessible(page: Page, axe_script: Path, name: str) -> None:
    violations = axe_violations(page, axe_script)
    failing = [v for v in violations if v["impact"] in FAILING]
    others = [f"{v['id']} ({v['impact']})" for v in violations if v["impact"] not in FAILING]
    if others:
        print(f"\naxe on {name}, not failing: {', '.join(others)}")
    assert not failing, f"axe on {name}:\n" + json.dumps(failing, indent=2, ensure_ascii=False)


def test_axe_finds_no_serious_violation_on_the_students_pages(page, demo_book, axe_script):
    page.goto("/accounts/login/")
    assert_accessible(page, axe_script, "the login page")
    page.fill("#id_username", "demo-student")
    page.fill("#id_password", "wrong")
    page.click("main button[type=submit]")
    expect(page.locator("[role=alert]")).to_be_visible()
    assert_accessible(page, axe_script, "the login page after a failed attempt")

    sign_in(page, "demo-student", "/books/")
    assert_accessible(page, axe_script, "the book list")
    page.goto(f"/books/{demo_book.pk}/")
    page.wait_for_load_state("networkidle")
    assert_accessible(page, axe_script, "the book page")


def test_axe_finds_no_serious_violation_in_the_admin_preview(page, demo_book, axe_script):
    sign_in_admin(page, "demo-admin", f"/admin/books/book/{demo_book.pk}/change/")
    expect(page.locator("#media-preview")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert_accessible(page, axe_script, "the admin's book page with the media preview")


def test_every_player_is_named_by_its_title(page, demo_book):
    sign_in(page, "demo-student", f"/books/{demo_book.pk}/")
    assert set(TITLES) == set(PLAYABLE)
    for path, title in TITLES.items():
        expect(page.locator(f'[data-media-path="{path}"]')).to_have_accessible_name(title)
    menu = page.locator('[data-player]:has([data-media-path="video/lesson-1.mp4"]) select')
    expect(menu).to_have_accessible_name("Subtitles for Lesson 1")


# A focus stop as the tests name it: a player or a subtitles menu by its file, else the tag.
_STOP = """(el) => {
  if (el.dataset.mediaPath) return "player:" + el.dataset.mediaPath;
  const player = el.closest("[data-player]");
  if (el.matches("[data-captions]")) {
    return "menu:" + player.querySelector("[data-media-path]").dataset.mediaPath;
  }
  const label = el.getAttribute("href") || el.name || el.textContent.trim();
  return el.tagName.toLowerCase() + ":" + label;
}"""
_FOCUSED = f"""() => {{
  const el = document.activeElement;
  return !el || el === document.body ? null : ({_STOP})(el);
}}"""


def focus_sequence(page: Page, presses: int) -> list[str]:
    """What Tab focuses, press after press (repeats of one stop, such as a player's inner
    controls, merged)."""
    sequence: list[str] = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused = page.evaluate(_FOCUSED)
        if focused and (not sequence or sequence[-1] != focused):
            sequence.append(focused)
        if focused is None and sequence:
            break  # back at the top
    return sequence


def test_keyboard_focus_follows_the_page_and_reaches_every_player(page, demo_book):
    sign_in(page, "demo-student", f"/books/{demo_book.pk}/")
    page.wait_for_load_state("networkidle")
    in_page_order = page.eval_on_selector_all(
        "[data-media-path], [data-captions]", f"els => els.map({_STOP})"
    )
    sequence = focus_sequence(page, 250)
    assert sequence[0] == "a:#main", sequence  # the skip link comes first
    reached = [stop for stop in sequence if stop.startswith(("player:", "menu:"))]
    assert reached == in_page_order, sequence


def test_subtitles_are_chosen_from_the_keyboard(page, demo_book):
    sign_in(page, "demo-student", f"/books/{demo_book.pk}/")
    video = page.locator('[data-media-path="video/lesson-1.mp4"]')
    menu = page.locator('[data-player]:has([data-media-path="video/lesson-1.mp4"]) select')
    page.wait_for_function(
        "(el) => el.textTracks.length === 2 && el.textTracks[0].mode === 'showing'",
        arg=video.element_handle(),
        timeout=TIMEOUT_MS,
    )
    for _ in range(300):  # Tab to the menu, as a keyboard user does
        page.keyboard.press("Tab")
        if menu.evaluate("(el) => el === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the subtitles menu of Lesson 1")
    expect(menu).to_have_value("en")
    page.keyboard.press("ArrowDown")  # English → Türkçe
    expect(menu).to_have_value("tr")
    modes = "(el) => Array.from(el.textTracks, (t) => t.language + ':' + t.mode)"
    page.wait_for_function(
        f"(el) => ({modes})(el).join() === 'en:disabled,tr:showing'",
        arg=video.element_handle(),
        timeout=TIMEOUT_MS,
    )
    page.keyboard.press("Home")  # Off
    expect(menu).to_have_value("")
    assert video.evaluate(modes) == ["en:disabled", "tr:disabled"]
