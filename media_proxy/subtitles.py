"""SRT → WebVTT for browsers' <track>, which accepts only WebVTT."""

import io

import webvtt

# Not UTF-8: the catalogue's subtitles are Turkish, made on Windows. Guessing
# is worse than this rule: on short Turkish files charset detection picks
# cp1250 and turns ş ğ ı İ into ţ đ ý Ý.
LEGACY_ENCODING = "cp1254"


class SubtitleError(ValueError):
    """The file is not a readable SRT."""


def decode_subtitle(data: bytes) -> str:
    """Text of a subtitle file: UTF-8 (with or without BOM), else Windows-1254."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode(LEGACY_ENCODING, errors="replace")


def srt_to_vtt(data: bytes) -> str:
    text = decode_subtitle(data).replace("\r\n", "\n").replace("\r", "\n")
    try:
        captions = webvtt.from_buffer(io.StringIO(text), format="srt")
    except Exception as error:  # webvtt-py raises several unrelated types on bad input
        raise SubtitleError(f"not a valid SRT file: {error}") from error
    if not captions.captions:
        raise SubtitleError("not a valid SRT file: no cue")
    return captions.content
