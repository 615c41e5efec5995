"""Table-driven tests for media_proxy.paths.validate_asset_path.

The path arrives percent-decoded once by the server; the validator also checks it
decoded once more and NFKC-normalised. Each invalid row names the 400 message a
client reads (the view returns it as the error detail).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from media_proxy.paths import MAX_PATH_LENGTH, InvalidPath, validate_asset_path

ROOT = Path(__file__).resolve().parents[2]

EMPTY = "The media path is empty."
TOO_LONG = "The media path is too long."
NOT_UTF8 = "The media path is not valid UTF-8."
CONTROL = "The media path contains control characters."
BACKSLASH = "The media path contains a backslash."
ABSOLUTE = "The media path must be relative."
SEGMENT = "The media path contains an empty, '.' or '..' segment."

VALID = [
    pytest.param("song.mp3", id="plain"),
    pytest.param("audio/08.mp3", id="folder"),
    pytest.param("Ünite 1/müzik.mp3", id="unicode and a space"),
    pytest.param("Ünite 2/şarkı ğ ı İ Ç ö.mp3", id="Turkish letters"),
    pytest.param("mu\u0308zik.mp3", id="combining diaeresis (NFD)"),
    pytest.param("my song (live).mp3", id="spaces and parentheses"),
    pytest.param("100%.mp3", id="bare percent"),
    pytest.param("100%25.mp3", id="percent-encoded percent"),
    pytest.param("%zz.mp3", id="percent not followed by hex"),
    pytest.param("a/b/c/d/e/f/g/h.mp4", id="deep"),
    pytest.param("a..b.mp3", id="two dots inside a name"),
    pytest.param("..mp3", id="name starting with two dots"),
    pytest.param("...", id="three dots is a name"),
    pytest.param(".hidden", id="dotfile"),
    pytest.param("audio/.hidden.mp3", id="dotfile in a folder"),
    pytest.param("v1.2/track.mp3", id="dot in a folder name"),
    pytest.param("a\u2024b.mp3", id="one look-alike dot inside a name"),
    pytest.param("a\u200bb.mp3", id="zero-width space is not a control character"),
    # Decoded once more only: `%2e%2e` is then a literal name, which DCS reads as such.
    pytest.param("%252e%252e", id="double-encoded dots stay a literal name"),
    pytest.param("a" * (MAX_PATH_LENGTH - 4) + ".mp3", id="exactly the maximum length"),
]


@pytest.mark.parametrize("path", VALID)
def test_valid_path_is_returned_unchanged(path):
    assert validate_asset_path(path) == path


INVALID = [
    pytest.param("", EMPTY, id="empty"),
    pytest.param("/abs.mp3", ABSOLUTE, id="absolute"),
    pytest.param("/", ABSOLUTE, id="root"),
    pytest.param("//host/x.mp3", ABSOLUTE, id="network path"),
    pytest.param("..", SEGMENT, id="dot-dot"),
    pytest.param("../secret.mp3", SEGMENT, id="leading dot-dot"),
    pytest.param("a/../b.mp3", SEGMENT, id="inner dot-dot"),
    pytest.param("a/..", SEGMENT, id="trailing dot-dot"),
    pytest.param(".", SEGMENT, id="dot"),
    pytest.param("./a.mp3", SEGMENT, id="leading dot segment"),
    pytest.param("a/./b.mp3", SEGMENT, id="inner dot segment"),
    pytest.param("a//b.mp3", SEGMENT, id="empty segment"),
    pytest.param("a/", SEGMENT, id="trailing slash"),
    pytest.param("a\\b.mp3", BACKSLASH, id="backslash"),
    pytest.param("..\\secret.mp3", BACKSLASH, id="Windows dot-dot"),
    pytest.param("a\x00b.mp3", CONTROL, id="NUL"),
    pytest.param("a\rb.mp3", CONTROL, id="CR"),
    pytest.param("a\nb.mp3", CONTROL, id="LF"),
    pytest.param("a.mp3\r\nX-Injected: 1", CONTROL, id="CRLF"),
    pytest.param("a\tb.mp3", CONTROL, id="tab"),
    pytest.param("a\x1bb.mp3", CONTROL, id="ESC"),
    pytest.param("a\x7fb.mp3", CONTROL, id="DEL"),
    pytest.param("a\x85b.mp3", CONTROL, id="C1 NEL"),
    pytest.param("a\x9bb.mp3", CONTROL, id="C1 CSI"),
    # Decoded once more.
    pytest.param("%2e%2e", SEGMENT, id="encoded dot-dot"),
    pytest.param("%2E%2E/secret.mp3", SEGMENT, id="upper-case encoded dot-dot"),
    pytest.param("a/%2e%2e/b.mp3", SEGMENT, id="inner encoded dot-dot"),
    pytest.param(".%2e/secret.mp3", SEGMENT, id="half-encoded dot-dot"),
    pytest.param("%2e/a.mp3", SEGMENT, id="encoded dot"),
    pytest.param("%2fetc/passwd", ABSOLUTE, id="encoded leading slash"),
    pytest.param("a%2f%2fb.mp3", SEGMENT, id="encoded empty segment"),
    pytest.param("a%5cb.mp3", BACKSLASH, id="encoded backslash"),
    pytest.param("%00.mp3", CONTROL, id="encoded NUL"),
    pytest.param("a%0d%0ab.mp3", CONTROL, id="encoded CRLF"),
    pytest.param("%c0%ae%c0%ae/secret.mp3", NOT_UTF8, id="overlong UTF-8 dots"),
    pytest.param("%ff.mp3", NOT_UTF8, id="invalid UTF-8 byte"),
    pytest.param("\ufffd.mp3", NOT_UTF8, id="replacement character"),
    # Look-alikes that NFKC folds.
    pytest.param("\u2024\u2024/secret.mp3", SEGMENT, id="U+2024 one dot leader x2"),
    pytest.param("\u2025/secret.mp3", SEGMENT, id="U+2025 two dot leader"),
    pytest.param("\uff0e\uff0e/secret.mp3", SEGMENT, id="U+FF0E fullwidth full stop x2"),
    pytest.param("%e2%80%a4%e2%80%a4/secret.mp3", SEGMENT, id="encoded U+2024 x2"),
    pytest.param("\uff0fetc/passwd", ABSOLUTE, id="U+FF0F fullwidth solidus"),
    pytest.param("a\uff3cb.mp3", BACKSLASH, id="U+FF3C fullwidth reverse solidus"),
    pytest.param("a" * (MAX_PATH_LENGTH + 1), TOO_LONG, id="one past the maximum length"),
    pytest.param("../" * 1000, TOO_LONG, id="very long traversal"),
]


@pytest.mark.parametrize(("path", "message"), INVALID)
def test_invalid_path_is_refused(path, message):
    with pytest.raises(InvalidPath) as caught:
        validate_asset_path(path)
    assert str(caught.value) == message


# DCS trims the whole `?path=` (Python's str.strip(): any Unicode whitespace) before
# its own `..` check, so a segment that is `..` once trimmed is a traversal there.
WHITESPACE_AROUND_DOT_DOT = [
    pytest.param(" ../secret.mp3", id="space before a leading dot-dot"),
    pytest.param("\u00a0../secret.mp3", id="no-break space before a leading dot-dot"),
    pytest.param("\u3000../secret.mp3", id="ideographic space before a leading dot-dot"),
    pytest.param("a/.. ", id="space after a trailing dot-dot"),
]


@pytest.mark.parametrize("path", WHITESPACE_AROUND_DOT_DOT)
def test_dot_dot_behind_whitespace_that_dcs_trims_is_refused(path):
    with pytest.raises(InvalidPath):
        validate_asset_path(path)


def test_the_message_does_not_depend_on_the_hash_seed():
    """A path failing differently as received (empty segment) and decoded (backslash) gets
    the same message from every worker process, whatever its PYTHONHASHSEED."""
    code = (
        "from media_proxy.paths import InvalidPath, validate_asset_path\n"
        "try:\n    validate_asset_path('a//%5c')\n"
        "except InvalidPath as error:\n    print(error)\n"
    )
    messages = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in range(8)
    }
    assert len(messages) == 1, messages
