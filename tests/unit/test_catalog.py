"""Table-driven tests for media_proxy.catalog: kinds, subtitle pairing, grouping."""

from __future__ import annotations

import pytest

from media_proxy.catalog import MediaItem, build_catalog, kind_of, media_item
from media_proxy.dcs import DCSFile


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("a.mp4", "video"),
        ("a.m4v", "video"),
        ("a.webm", "video"),
        ("a.ogv", "video"),
        ("a.mp3", "audio"),
        ("a.m4a", "audio"),
        ("a.ogg", "audio"),
        ("a.opus", "audio"),
        ("a.wav", "audio"),
        ("a.aac", "audio"),
        ("a.flac", "audio"),
        ("a.png", "image"),
        ("a.jpg", "image"),
        ("a.vtt", "subtitle"),
        ("a.srt", "subtitle"),
        ("A.SRT", "subtitle"),
        ("A.MP4", "video"),
        ("Ünite 1/şarkı.MP3", "audio"),
        ("a.pdf", "other"),
        ("config.json", "other"),
        ("notes.txt", "other"),
        ("README", "other"),
        ("data.unknownext", "other"),
    ],
)
def test_kind_of(path, kind):
    assert kind_of(path) == kind


@pytest.mark.parametrize(
    ("path", "others", "subtitle"),
    [
        pytest.param("a/l1.mp4", {"a/l1.vtt"}, "a/l1.vtt", id="vtt"),
        pytest.param("a/l1.mp4", {"a/l1.srt"}, "a/l1.srt", id="srt"),
        pytest.param("a/l1.mp4", {"a/l1.srt", "a/l1.vtt"}, "a/l1.vtt", id="vtt preferred"),
        pytest.param("a/l1.mp3", {"a/l1.vtt"}, "a/l1.vtt", id="audio too"),
        pytest.param("a/L1.MP4", {"a/L1.vtt"}, "a/L1.vtt", id="upper-case media extension"),
        pytest.param("Ünite 1/şarkı.mp3", {"Ünite 1/şarkı.srt"}, "Ünite 1/şarkı.srt", id="Turkish"),
        pytest.param("a/l1.mp4", set(), None, id="none"),
        pytest.param("a/l1.mp4", {"a/l10.vtt", "a/l.vtt"}, None, id="other stems"),
        pytest.param("a/l1.mp4", {"a/l1.en.vtt"}, None, id="language suffix is another stem"),
        pytest.param("a/l1.mp4", {"l1.vtt", "b/l1.vtt"}, None, id="same name, other folder"),
        pytest.param("a/l1.mp4", {"a/l1.mp4.vtt"}, None, id="full name plus .vtt"),
        pytest.param("a/l1.mp4", {"a/l1.txt"}, None, id="not a subtitle"),
        pytest.param("a/l1.png", {"a/l1.vtt"}, None, id="image gets none"),
        pytest.param("a/l1.pdf", {"a/l1.vtt"}, None, id="other gets none"),
        pytest.param("a/l1.srt", {"a/l1.vtt"}, None, id="subtitle gets none"),
    ],
)
def test_subtitle_pairing(path, others, subtitle):
    assert media_item(path, 10, {path, *others}).subtitle == subtitle


def test_media_item_fields():
    item = media_item("Ünite 1/şarkı.mp3", 782836, {"Ünite 1/şarkı.mp3", "Ünite 1/şarkı.vtt"})
    assert item == MediaItem(
        path="Ünite 1/şarkı.mp3",
        size=782836,
        kind="audio",
        content_type="audio/mpeg",
        subtitle="Ünite 1/şarkı.vtt",
    )
    assert item.name == "şarkı.mp3"


def paths_by_kind(catalog: dict[str, list[MediaItem]]) -> dict[str, list[str]]:
    return {kind: [item.path for item in items] for kind, items in catalog.items()}


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        pytest.param([], {}, id="empty book"),
        pytest.param(["config.json"], {"other": ["config.json"]}, id="only other"),
        pytest.param(
            ["b.mp3", "notes.pdf", "a.vtt", "cover.png", "z.mp4", "a.mp4", "a.mp3"],
            {
                "video": ["a.mp4", "z.mp4"],
                "audio": ["a.mp3", "b.mp3"],
                "image": ["cover.png"],
                "subtitle": ["a.vtt"],
                "other": ["notes.pdf"],
            },
            id="kinds in order, paths sorted",
        ),
        pytest.param(
            ["u2/02.mp3", "u10/01.mp3", "u1/02.mp3", "u1/01.mp3"],
            {"audio": ["u1/01.mp3", "u1/02.mp3", "u10/01.mp3", "u2/02.mp3"]},
            id="sorted by path as text",
        ),
        pytest.param(
            ["s.srt", "v.mp4", "t.txt"],
            {"video": ["v.mp4"], "subtitle": ["s.srt"], "other": ["t.txt"]},
            id="empty groups dropped",
        ),
    ],
)
def test_build_catalog_groups(paths, expected):
    catalog = build_catalog([DCSFile(path, 1) for path in paths])
    assert paths_by_kind(catalog) == expected
    assert list(catalog) == list(expected)  # the order pages show the groups in


def test_build_catalog_items():
    files = [DCSFile("a/l1.srt", 3), DCSFile("a/l1.mp4", 2), DCSFile("a/l1.vtt", 1)]
    assert build_catalog(files) == {
        "video": [MediaItem("a/l1.mp4", 2, "video", "video/mp4", "a/l1.vtt")],
        "subtitle": [
            MediaItem("a/l1.srt", 3, "subtitle", "text/plain; charset=utf-8"),
            MediaItem("a/l1.vtt", 1, "subtitle", "text/vtt; charset=utf-8"),
        ],
    }
