"""The Content-Type and Content-Disposition of a media response."""

import mimetypes
import posixpath
import re
from urllib.parse import quote

# The project's media table: what browsers' <audio>/<video>/<track> expect.
MEDIA_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "webm": "video/webm",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "ogv": "video/ogg",
    "opus": "audio/ogg",
    "wav": "audio/wav",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "srt": "text/plain; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}
DEFAULT_TYPE = "application/octet-stream"


def content_type_for(path: str) -> str:
    """Type from the media table, then the stdlib `mimetypes`, then octet-stream."""
    extension = posixpath.splitext(path)[1].lower().lstrip(".")
    if extension in MEDIA_TYPES:
        return MEDIA_TYPES[extension]
    guessed, encoding = mimetypes.guess_type(path, strict=False)
    if guessed is None or encoding is not None:
        return DEFAULT_TYPE
    if guessed.startswith("text/"):
        return f"{guessed}; charset=utf-8"
    return guessed


_QUOTABLE = re.compile(r"[\t\x20-\x7e]*")


def inline_disposition(path: str) -> str:
    """RFC 6266 `inline` with the basename; non-ASCII or unsafe names go in RFC 5987 `filename*`.

    Anything outside printable ASCII (CR and LF included) is percent-encoded,
    so no file name can break the header or inject another. (Django's
    `content_disposition_header` does the same but lets a trailing newline
    through in 5.2.19: its regex ends in `$`, Django ticket #37198.)
    """
    name = posixpath.basename(path)
    if not name:
        return "inline"
    if _QUOTABLE.fullmatch(name):
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'inline; filename="{escaped}"'
    return f"inline; filename*=utf-8''{quote(name)}"
