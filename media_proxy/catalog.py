"""A book's files as DCS lists them (cached briefly), and what kind of media each is.

`media_proxy.outline` turns the listing into the book's own shape for pages.
"""

from __future__ import annotations

import logging
import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache

from media_proxy.bulkhead import media_bulkhead
from media_proxy.cache_keys import cache_key
from media_proxy.dcs import (
    DCSFile,
    DCSUnavailable,
    get_dcs_client,
)
from media_proxy.media_types import content_type_for

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

KINDS = ("video", "audio", "image", "subtitle", "other")
SUBTITLE_EXTENSIONS = (".vtt", ".srt")
PLAYABLE_KINDS = ("video", "audio")


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
        # The listing is media work too: it waits on DCS, so it takes a place in the bulkhead.
        bulkhead = media_bulkhead()
        if not bulkhead.enter():
            raise DCSUnavailable("no place for media in this process (the bulkhead is full)")
        try:
            files = get_dcs_client().list_book(publisher, book_name)
        finally:
            bulkhead.leave()
        cache.set(key, files, settings.MEDIA_LISTING_TTL)
    return files


def media_item(path: str, size: int, all_paths: set[str]) -> MediaItem:
    kind = kind_of(path)
    subtitle = None
    if kind in PLAYABLE_KINDS:
        stem = posixpath.splitext(path)[0]
        subtitle = next(
            (stem + ext for ext in SUBTITLE_EXTENSIONS if stem + ext in all_paths), None
        )
    return MediaItem(path, size, kind, content_type_for(path), subtitle)
