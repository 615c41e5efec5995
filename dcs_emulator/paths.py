"""Validation and normalisation of the names and paths in a storage URL."""

from __future__ import annotations

TRAVERSAL = "path must not traverse directories"


class InvalidPath(ValueError):
    """DCS answers 400 with this detail."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def check_segment(value: str, field: str) -> str:
    """A publisher or book name must be one real path segment (else 400)."""
    if not value or value in {".", ".."} or "/" in value or "\\" in value:
        raise InvalidPath(f"{field} must be a single path segment")
    return value


def normalize_object_path(raw: str) -> str:
    """Trim and normalise ``?path=`` as DCS does.

    ``./`` and ``//`` collapse, leading and trailing slashes are dropped, any
    ``..`` segment is a 400. Backslashes are ordinary characters. The result
    may be empty (the book folder itself), which no object matches.
    """
    segments = raw.strip().split("/")
    if ".." in segments:
        raise InvalidPath(TRAVERSAL)
    return "/".join(segment for segment in segments if segment not in {"", "."})


def object_key(publisher: str, book_name: str, path: str) -> str:
    return f"{book_prefix(publisher, book_name)}{path}"


def book_prefix(publisher: str, book_name: str) -> str:
    return f"{publisher}/books/{book_name}/"
