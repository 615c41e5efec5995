"""Table-driven tests for media_proxy.subtitles: decoding SRT files and converting to WebVTT."""

from __future__ import annotations

import pytest

from media_proxy.subtitles import SubtitleError, decode_subtitle, srt_to_vtt

SRT = (
    "1\n00:00:01,000 --> 00:00:02,500\nŞarkı söyleyen öğretmen\n\n"
    "2\n00:01:03,040 --> 00:01:04,000\nİkinci satır\nüstüne bir satır daha\n"
)
VTT = (
    "WEBVTT\n\n"
    "00:00:01.000 --> 00:00:02.500\nŞarkı söyleyen öğretmen\n\n"
    "00:01:03.040 --> 00:01:04.000\nİkinci satır\nüstüne bir satır daha\n"
)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(SRT.encode(), id="UTF-8, LF"),
        pytest.param(SRT.encode("utf-8-sig"), id="UTF-8 with BOM"),
        pytest.param(SRT.replace("\n", "\r\n").encode(), id="CRLF"),
        pytest.param(SRT.replace("\n", "\r").encode(), id="lone CR"),
        pytest.param(SRT.replace("\n", "\r\n").encode("utf-8-sig"), id="BOM and CRLF"),
        pytest.param(SRT.encode("cp1254"), id="Windows-1254"),
        pytest.param(SRT.replace("\n", "\r\n").encode("cp1254"), id="Windows-1254, CRLF"),
    ],
)
def test_srt_to_vtt(data):
    assert srt_to_vtt(data) == VTT


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"plain", "plain", id="ASCII"),
        pytest.param("müzik".encode(), "müzik", id="UTF-8"),
        pytest.param("\ufeffmüzik".encode(), "müzik", id="BOM removed"),
        pytest.param(b"", "", id="empty"),
    ],
)
def test_decode_subtitle_utf8(data, expected):
    assert decode_subtitle(data) == expected


# Windows-1254 files of the sizes real subtitle tracks come in: one cue to a dozen.
TURKISH_LINES = [
    "Merhaba, bugün şarkı öğreneceğiz.",
    "Işıkları kapatır mısın?",
    "İstanbul çok güzel bir şehir.",
    "Öğretmenimiz sınıfa girdi.",
    "Ağaç dalları rüzgârda sallanıyor.",
    "Çocuklar bahçede oynuyor.",
    "Şimdi hep birlikte söyleyelim.",
    "Güzel, çok iyi iş çıkardınız!",
    "Yarın görüşmek üzere.",
    "Lütfen kitabınızı açın.",
    "Dinle ve tekrar et.",
    "Bu bir kalem mi?",
]


def srt_of(lines: list[str]) -> str:
    return "".join(
        f"{i}\r\n00:00:{i:02d},000 --> 00:00:{i:02d},900\r\n{line}\r\n\r\n"
        for i, line in enumerate(lines, start=1)
    )


def cue_texts(vtt: str) -> list[str]:
    return [line for line in vtt.split("\n")[1:] if line and "-->" not in line]


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param(["ş ğ ı İ"], id="the four letters"),
        pytest.param(["Şarkı"], id="one word"),
        pytest.param(TURKISH_LINES[:1], id="1 cue"),
        pytest.param(TURKISH_LINES[:2], id="2 cues"),
        pytest.param(TURKISH_LINES[:5], id="5 cues"),
        pytest.param(TURKISH_LINES[:9], id="9 cues"),
        pytest.param(TURKISH_LINES, id="12 cues"),
    ],
)
def test_windows_1254_turkish_round_trips(lines):
    vtt = srt_to_vtt(srt_of(lines).encode("cp1254"))
    assert vtt.startswith("WEBVTT\n\n")
    assert cue_texts(vtt) == lines


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"just some text\n", id="text without cues"),
        pytest.param(b"\x00\x01\x02\xff", id="binary"),
        pytest.param(b"1\n00:00:01,000 --> 00:00:02,000\n", id="cue without text"),
        pytest.param(b"00:00:01,000 --> 00:00:02,000\nno index\n", id="cue without index"),
        pytest.param(b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nx\n", id="already WebVTT"),
        # Only cue to be found has a timing without milliseconds: an empty track.
        pytest.param(b"1\n00:00:01 --> 00:00:02\nhello\n", id="no valid cue at all"),
    ],
)
def test_invalid_srt_raises(data):
    with pytest.raises(SubtitleError):
        srt_to_vtt(data)
