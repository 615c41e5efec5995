"""SRT → WebVTT for browsers' <track>, which accepts only WebVTT."""

import io

import webvtt
from charset_normalizer import from_bytes

# Turkish subtitles are often Windows-1254; it is the fallback when detection
# has nothing better to say.
FALLBACK_ENCODING = "cp1254"


class SubtitleError(ValueError):
    """The file is not a readable SRT."""


def decode_subtitle(data: bytes) -> str:
    """Text of a subtitle file: UTF-8 (with or without BOM), else the detected encoding."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    encoding = best.encoding if best is not None else FALLBACK_ENCODING
    return data.decode(encoding, errors="replace")


def srt_to_vtt(data: bytes) -> str:
    text = decode_subtitle(data).replace("\r\n", "\n").replace("\r", "\n")
    try:
        captions = webvtt.from_buffer(io.StringIO(text), format="srt")
    except Exception as error:  # webvtt-py raises several unrelated types on bad input
        raise SubtitleError(f"not a valid SRT file: {error}") from error
    return captions.content
