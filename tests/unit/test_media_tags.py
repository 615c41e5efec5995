"""media_proxy.templatetags.media: URLs as reverse() makes them, and the player's markup."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import translation

from media_proxy.catalog import media_item
from media_proxy.outline import Entry, Track
from media_proxy.templatetags.media import media_player, media_url, track_url

BOOK = SimpleNamespace(pk=uuid.UUID("3f2b8a4e-5c1d-4e8f-9a7b-2c6d1e0f9a8b"))


@pytest.mark.parametrize(
    "path",
    [
        "audio/01.mp3",
        "Ünite 1/müzik.mp3",
        "Ünite 2/şarkı ğ ı İ.mp3",
        "a b/c+d&e=f;g,h!i$j'k(l)m*n~o:p@q.mp3",
        "100%/#frag?query.mp3",
        "a//b",
        "emoji 🎵.ogg",
    ],
)
def test_media_url_is_what_reverse_makes(path):
    expected = reverse("media", kwargs={"book_id": str(BOOK.pk), "asset_path": path})
    assert media_url(BOOK, path) == expected


def test_track_url_serves_srt_as_vtt():
    assert track_url(BOOK, "a.srt").endswith("/media/a.srt?format=vtt")
    assert track_url(BOOK, "a.vtt").endswith("/media/a.vtt")


def entry(path: str, *tracks: Track, preload: str = "metadata", unavailable=None) -> Entry:
    return Entry(media_item(path, 1, set()), "Lesson <1>", tracks, unavailable, preload)


TRACKS = (Track("v/l.vtt", "en", "English"), Track("v/l.tr.vtt", "tr", "Türkçe"))


def test_video_player_is_named_by_its_title_with_subtitles_and_a_menu():
    with translation.override("tr"):
        html = media_player(BOOK, entry("v/l.mp4", *TRACKS))
    assert 'aria-label="Lesson &lt;1&gt;"' in html  # escaped
    assert '<video controls preload="metadata" playsinline' in html
    assert 'srclang="en" label="English">' in html
    assert 'srclang="tr" label="Türkçe" default>' in html  # the reader's language
    assert 'data-preferred="tr"' in html
    assert '<option value="tr" lang="tr" selected>Türkçe</option>' in html
    assert "Altyazılar" in html


def test_a_player_loaded_only_when_played_loads_no_subtitles_with_the_page():
    with translation.override("en"):
        html = media_player(BOOK, entry("v/l.mp4", *TRACKS, preload="none"))
    assert " default>" not in html
    assert " selected>" not in html
    assert 'data-preferred="en"' in html


def test_audio_captions_are_shown_as_text():
    html = media_player(BOOK, entry("a/x.mp3", *TRACKS))
    assert "<audio controls" in html
    assert "playsinline" not in html
    assert " default>" not in html  # audio subtitles load when chosen or played
    assert '<p class="cue" data-cue hidden></p>' in html


def test_unavailable_file_has_no_player():
    html = media_player(BOOK, entry("a/ş.mp3", unavailable="No <way>."))
    assert "<audio" not in html
    assert 'data-unavailable-path="a/ş.mp3"' in html
    assert "No &lt;way&gt;." in html
