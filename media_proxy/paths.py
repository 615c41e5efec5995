"""Validation of a media path before anything goes upstream."""

import unicodedata
from urllib.parse import unquote

MAX_PATH_LENGTH = 1024


def _(message: str) -> str:
    """Marks a message for the catalogs (makemessages); it stays plain text, usable without
    Django's settings. The API translates it (media_proxy.exception_handler)."""
    return message


class InvalidPath(ValueError):
    """The asset path is not a plain relative path inside a book."""


def validate_asset_path(path: str) -> str:
    """Return `path` when it is a clean relative path; raise InvalidPath otherwise.

    The URL was percent-decoded once by the server; the path is checked as it
    is and decoded once more, so `%2e%2e` and `%252e%252e` are caught too.
    Look-alike dots (U+2024, U+FF0E) are caught through NFKC normalisation.
    """
    if not path:
        raise InvalidPath(_("The media path is empty."))
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidPath(_("The media path is too long."))
    try:
        decoded_again = unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise InvalidPath(_("The media path is not valid UTF-8.")) from None
    for form in (path, decoded_again, unicodedata.normalize("NFKC", decoded_again)):
        _check_form(form)
    return path


def _check_form(path: str) -> None:
    if path != path.strip():  # DCS trims the path: " ../x" would become "../x"
        raise InvalidPath(_("The media path starts or ends with white space."))
    if "\ufffd" in path:
        raise InvalidPath(_("The media path is not valid UTF-8."))
    if any(unicodedata.category(char) == "Cc" for char in path):
        raise InvalidPath(_("The media path contains control characters."))
    if "\\" in path:
        raise InvalidPath(_("The media path contains a backslash."))
    if path.startswith("/"):
        raise InvalidPath(_("The media path must be relative."))
    if any(segment in ("", ".", "..") for segment in path.split("/")):
        raise InvalidPath(_("The media path contains an empty, '.' or '..' segment."))
