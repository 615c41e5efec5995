"""Table-driven tests for media_proxy.catalog: kinds and subtitle pairing."""

from __future__ import annotations

import pytest

from media_proxy.catalog import MediaItem, kind_of, media_item


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
