"""media_proxy.catalog's book outline: the book's own shape, table by table (pure: no DCS)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import translation

from media_proxy.dcs import DCSFile
from media_proxy.names import folder_title, human_title, language_tag, natural_key
from media_proxy.objects import PRESIGN_REFUSED_KEY
from media_proxy.outline import (
    PRELOAD_METADATA_LIMIT,
    UNSERVABLE_NAME,
    Track,
    build_outline,
    limit_preload,
    unavailable_reason,
)


def outline_of(*paths: str):
    return build_outline([DCSFile(path, 100) for path in paths])


def shape(outline) -> list[tuple[str, list[str]]]:
    return [(s.title, [e.title for e in s.entries]) for s in outline.sections]


@pytest.fixture(autouse=True)
def _english_and_clean_cache():
    cache.delete(PRESIGN_REFUSED_KEY)
    with translation.override("en"), override_settings(LANGUAGE_CODE="en"):
        yield
    cache.delete(PRESIGN_REFUSED_KEY)


def test_units_in_natural_order():
    paths = [f"Ünite {n}/01.mp3" for n in (10, 2, 1, 12, 3)] + ["Unite 4/a.mp3"]
    assert [s.title for s in outline_of(*paths).sections] == [
        "Ünite 1",
        "Ünite 2",
        "Ünite 3",
        "Unite 4",  # accents do not move a unit out of place
        "Ünite 10",
        "Ünite 12",
    ]


def test_tracks_in_natural_order_inside_a_unit():
    outline = outline_of("u/10 Ten.mp3", "u/2 Two.mp3", "u/1 One.mp3", "u/02.1 Two b.mp3")
    assert shape(outline) == [("U", ["One", "Two", "Two b", "Ten"])]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Ünite 2", "Ünite 10"),
        ("a2", "a10"),
        ("Şarkı 1", "Tema 1"),  # ş sorts with s
        ("ılık", "jale"),  # dotless ı with i
        ("abc", "ABD"),  # case-insensitive
        ("file9.mp3", "file10.mp3"),
    ],
)
def test_natural_key(a, b):
    assert natural_key(a) < natural_key(b)


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("01-welcome.mp3", "Welcome"),
        ("02-dialogue.ogg", "Dialogue"),
        ("lesson-1.mp4", "Lesson 1"),
        ("01 Greetings.mp3", "Greetings"),
        ("05 My family.mp3", "My family"),
        ("1. Giriş.mp3", "Giriş"),
        ("3_listen_and_repeat.mp3", "Listen and repeat"),
        ("12) Final.mp3", "Final"),
        ("07.mp3", "Track 7"),
        ("3D shapes.mp4", "3D shapes"),  # a number that is part of the name stays
        ("well-being and health.mp3", "Well-being and health"),
        ("ilkbahar-şarkısı.mp3", "İlkbahar şarkısı"),  # Turkish capital dotted İ
        ("ılık.mp3", "Ilık"),
        ("müzik.mp3", "Müzik"),
        ("Ünite 2/04 Şarkı.mp3", "Şarkı"),
        ("Already Titled.MP3", "Already Titled"),
    ],
)
def test_human_title(name, title):
    assert human_title(name) == title


@pytest.mark.parametrize(
    ("folder", "title"),
    [
        ("Ünite 2", "Ünite 2"),
        ("audio", "Audio"),
        ("videos/unit 1", "Video › Unit 1"),
        ("reading_texts", "Reading texts"),
    ],
)
def test_folder_title(folder, title):
    assert folder_title(folder) == title


def test_folder_titles_are_translated():
    with translation.override("tr"):
        assert folder_title("audio") == "Ses"
        assert human_title("07.mp3") == "Parça 7"


@pytest.mark.parametrize(
    ("part", "tag"),
    [
        ("tr", "tr"),
        ("en", "en"),
        ("TR", "tr"),
        ("pt-br", "pt-BR"),
        ("pt_BR", "pt-BR"),
        ("zz", None),
        ("final", None),
        ("v2", None),
        ("1", None),
    ],
)
def test_language_tag(part, tag):
    assert language_tag(part) == tag


def tracks_of(outline, path: str) -> tuple[Track, ...]:
    return next(e for e in outline.entries() if e.path == path).tracks


def test_subtitles_attach_to_their_player_with_language_from_the_file_name():
    outline = outline_of(
        "video/lesson-1.mp4",
        "video/lesson-1.vtt",
        "video/lesson-1.srt",  # the same (site) language as .vtt: .vtt wins
        "video/lesson-1.tr.vtt",
        "video/lesson-1.de.srt",
        "video/lesson-10.vtt",  # another lesson's
    )
    assert tracks_of(outline, "video/lesson-1.mp4") == (
        Track("video/lesson-1.de.srt", "de", "Deutsch"),
        Track("video/lesson-1.vtt", "en", "English"),
        Track("video/lesson-1.tr.vtt", "tr", "Türkçe"),
    )
    # Subtitles are not files of the page: only the unclaimed one is kept apart.
    assert [e.path for e in outline.entries()] == ["video/lesson-1.mp4"]
    assert [e.path for e in outline.loose_subtitles] == ["video/lesson-10.vtt"]


def test_a_subtitle_without_a_language_part_is_in_the_site_language():
    with override_settings(LANGUAGE_CODE="tr"):
        outline = outline_of("a/x.mp3", "a/x.vtt")
    assert tracks_of(outline, "a/x.mp3") == (Track("a/x.vtt", "tr", "Türkçe"),)


def test_cover_is_apart_from_the_sections():
    outline = outline_of("images/cover.png", "images/map.png", "deep/er/cover.jpg", "a/1.mp3")
    assert outline.cover.path == "images/cover.png"  # the one nearest the top
    assert shape(outline) == [
        ("A", ["Track 1"]),
        ("Deep › Er", ["Cover"]),
        ("Images", ["Map"]),
    ]


def test_top_level_files_come_first():
    outline = outline_of("z/1.mp3", "intro.mp3", "a/2.mp3")
    assert [s.folder for s in outline.sections] == ["", "a", "z"]


def test_preload_is_limited_videos_first():
    paths = [f"a/{n:02d}.mp3" for n in range(1, 21)] + ["z/1.mp4", "z/2.mp4"]
    outline = limit_preload(outline_of(*paths))
    eager = [e.path for e in outline.entries() if e.preload == "metadata"]
    assert len(eager) == PRELOAD_METADATA_LIMIT
    assert eager[-2:] == ["z/1.mp4", "z/2.mp4"]
    assert eager[:-2] == [f"a/{n:02d}.mp3" for n in range(1, PRELOAD_METADATA_LIMIT - 1)]
    assert {e.preload for e in outline.entries()} == {"metadata", "none"}


@pytest.mark.parametrize(
    ("refused", "presigned", "path", "unavailable"),
    [
        (True, False, "Ünite 2/şarkı.mp3", True),
        (False, False, "Ünite 2/şarkı.mp3", False),  # presigned URLs may still serve it
        (True, True, "Ünite 2/şarkı.mp3", False),  # every read is presigned
        (True, False, "şarkılar/ok.mp3", False),  # only the basename counts
        (True, False, "Ünite 1/müzik.mp3", False),  # Latin-1
    ],
)
def test_unavailable_reason(refused, presigned, path, unavailable):
    if refused:
        cache.set(PRESIGN_REFUSED_KEY, True, 60)
    with override_settings(DCS_PRESIGNED=presigned):
        assert (unavailable_reason(path) == UNSERVABLE_NAME) is unavailable
        entry = next(build_outline([DCSFile(path, 1)]).entries())
    assert bool(entry.unavailable) is unavailable
