"""Table-driven tests for media_proxy.media_types: Content-Type and Content-Disposition."""

from __future__ import annotations

import pytest

from media_proxy.media_types import content_type_for, inline_disposition

MEDIA_TABLE = [
    ("mp3", "audio/mpeg"),
    ("mp4", "video/mp4"),
    ("m4v", "video/mp4"),
    ("webm", "video/webm"),
    ("ogg", "audio/ogg"),
    ("oga", "audio/ogg"),
    ("ogv", "video/ogg"),
    ("opus", "audio/ogg"),
    ("wav", "audio/wav"),
    ("m4a", "audio/mp4"),
    ("aac", "audio/aac"),
    ("flac", "audio/flac"),
    ("srt", "text/plain; charset=utf-8"),
    ("vtt", "text/vtt; charset=utf-8"),
]


@pytest.mark.parametrize(("extension", "expected"), MEDIA_TABLE, ids=[e for e, _ in MEDIA_TABLE])
def test_project_media_table(extension, expected):
    assert content_type_for(f"Ünite 1/track.{extension}") == expected


@pytest.mark.parametrize(("extension", "expected"), MEDIA_TABLE, ids=[e for e, _ in MEDIA_TABLE])
def test_project_media_table_upper_case(extension, expected):
    assert content_type_for(f"TRACK.{extension.upper()}") == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("Mixed.Mp3", "audio/mpeg", id="mixed case"),
        pytest.param("a.b/c.d/song.mp3", "audio/mpeg", id="dots in folders"),
        pytest.param("song.mp3.mp4", "video/mp4", id="last extension wins"),
        # The stdlib's mimetypes, for what the media table does not list.
        pytest.param("cover.png", "image/png", id="png"),
        pytest.param("cover.jpg", "image/jpeg", id="jpg"),
        pytest.param("COVER.JPG", "image/jpeg", id="JPG"),
        pytest.param("book.pdf", "application/pdf", id="pdf"),
        pytest.param("config.json", "application/json", id="json"),
        pytest.param("notes.txt", "text/plain; charset=utf-8", id="text gets a charset"),
        # Nothing known.
        pytest.param("data.unknownext", "application/octet-stream", id="unknown extension"),
        pytest.param("README", "application/octet-stream", id="no extension"),
        pytest.param("v1.2/README", "application/octet-stream", id="dot only in a folder"),
        pytest.param("archive.tar.gz", "application/octet-stream", id="compressed"),
        pytest.param("track.", "application/octet-stream", id="empty extension"),
    ],
)
def test_content_type_for(path, expected):
    assert content_type_for(path) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("song.mp3", 'inline; filename="song.mp3"', id="ASCII"),
        pytest.param("Ünite 1/audio/song.mp3", 'inline; filename="song.mp3"', id="basename only"),
        pytest.param("my song.mp3", 'inline; filename="my song.mp3"', id="spaces"),
        pytest.param('say "hi".mp3', r'inline; filename="say \"hi\".mp3"', id="quotes escaped"),
        pytest.param("a;b.mp3", 'inline; filename="a;b.mp3"', id="semicolon quoted"),
        pytest.param("a,b.mp3", 'inline; filename="a,b.mp3"', id="comma quoted"),
        pytest.param("back\\slash.mp3", r'inline; filename="back\\slash.mp3"', id="backslash"),
        pytest.param("100%.mp3", 'inline; filename="100%.mp3"', id="percent"),
        pytest.param(
            "şarkı.mp3", "inline; filename*=utf-8''%C5%9Fark%C4%B1.mp3", id="Turkish: filename*"
        ),
        pytest.param("müzik.mp3", "inline; filename*=utf-8''m%C3%BCzik.mp3", id="umlaut"),
        pytest.param(
            "x.mp3\r\nSet-Cookie: a=b",
            "inline; filename*=utf-8''x.mp3%0D%0ASet-Cookie%3A%20a%3Db",
            id="CRLF percent-encoded",
        ),
        pytest.param("x\ny.mp3", "inline; filename*=utf-8''x%0Ay.mp3", id="LF inside"),
        pytest.param("x.mp3\r", "inline; filename*=utf-8''x.mp3%0D", id="CR at the end"),
        # Python's `$` also matches before a final "\n" (Django ticket #37198).
        pytest.param("x.mp3\n", "inline; filename*=utf-8''x.mp3%0A", id="LF at the end"),
        pytest.param("audio/", "inline", id="no basename"),
    ],
)
def test_inline_disposition(path, expected):
    assert inline_disposition(path) == expected


@pytest.mark.parametrize(
    "name", ["x.mp3\n", "x.mp3\r", "x\r\ny.mp3", "\nx.mp3", "x.mp3\n\n", "ş\n.mp3"]
)
def test_inline_disposition_never_carries_a_raw_line_break(name):
    header = inline_disposition(name)
    assert "\r" not in header
    assert "\n" not in header
