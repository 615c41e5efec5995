"""A book's media as pages show it: DCS's listing, grouped by kind, with subtitle tracks."""

from __future__ import annotations

import logging
import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache

from media_proxy.cache_keys import cache_key
from media_proxy.dcs import DCSError, DCSFile, get_dcs_client

if TYPE_CHECKING:
    from books.models import Book
from media_proxy.media_types import content_type_for

logger = logging.getLogger(__name__)

KINDS = ("video", "audio", "image", "subtitle", "other")
SUBTITLE_EXTENSIONS = (".vtt", ".srt")


@dataclass(frozen=True)
class MediaItem:
    path: str
    size: int
    kind: str
    content_type: str
    subtitle: str | None = None  # a same-named .vtt (preferred) or .srt

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)


def kind_of(path: str) -> str:
    if path.lower().endswith(SUBTITLE_EXTENSIONS):
        return "subtitle"
    major = content_type_for(path).split("/")[0]
    return major if major in ("video", "audio", "image") else "other"


def book_files(publisher: str, book_name: str) -> list[DCSFile]:
    """DCS's listing of a book, cached briefly (pages and template tags ask often)."""
    key = cache_key("media:listing", publisher, book_name)
    files = cache.get(key)
    if files is None:
        files = get_dcs_client().list_book(publisher, book_name)
        cache.set(key, files, settings.MEDIA_LISTING_TTL)
    return files


def media_item(path: str, size: int, all_paths: set[str]) -> MediaItem:
    kind = kind_of(path)
    subtitle = None
    if kind in ("video", "audio"):
        stem = posixpath.splitext(path)[0]
        subtitle = next(
            (stem + ext for ext in SUBTITLE_EXTENSIONS if stem + ext in all_paths), None
        )
    return MediaItem(path, size, kind, content_type_for(path), subtitle)


def build_catalog(files: list[DCSFile]) -> dict[str, list[MediaItem]]:
    """Items grouped by kind, in KINDS order, each group sorted by path; empty groups left out."""
    all_paths = {f.path for f in files}
    groups: dict[str, list[MediaItem]] = {kind: [] for kind in KINDS}
    for file in sorted(files, key=lambda f: f.path):
        item = media_item(file.path, file.size, all_paths)
        groups[item.kind].append(item)
    return {kind: items for kind, items in groups.items() if items}


def book_catalog(book: Book) -> tuple[dict[str, list[MediaItem]], str | None]:
    """The book's catalog for a page, or an empty one and a message a person can read."""
    try:
        return build_catalog(book_files(book.publisher.name, book.book_name)), None
    except DCSError as error:
        logger.error("Listing book %s failed: %s", book.pk, error)
        return {}, "The media library is unavailable right now. Please try again in a few minutes."
