"""A book in its own shape, for course pages and the admin preview (pure over the listing).

One section per folder, in natural order (`Ünite 2` before `Ünite 10`); human
titles from file names; the cover apart; subtitles attached to their players
as tracks whose language comes from the file name (`lesson-1.tr.vtt` → `tr`,
"Türkçe"; no language part → the site language); files the LMS cannot play
now marked with the reason (`unavailable_reason`).
"""

from __future__ import annotations

import dataclasses
import logging
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _

from media_proxy.catalog import (
    PLAYABLE_KINDS,
    SUBTITLE_EXTENSIONS,
    MediaItem,
    book_files,
    kind_of,
    media_item,
)
from media_proxy.dcs import CircuitOpen, DCSError, DCSFile, serves_name
from media_proxy.names import (
    folder_title,
    human_title,
    language_label,
    language_tag,
    natural_key,
    path_key,
    site_language,
)
from media_proxy.objects import PRESIGN_REFUSED_KEY

if TYPE_CHECKING:
    from django.utils.functional import Promise

    from books.models import Book

logger = logging.getLogger(__name__)

#: a book page lets this many players load their metadata with the page; the rest
#: load when played. A long book thus never fires a request per track, nor opens
#: more streams than a browser's connections to one host (6) or the per-user
#: limit (MEDIA_MAX_STREAMS_PER_USER) allow.
PRELOAD_METADATA_LIMIT = 6
#: stems (case-insensitive) of the image shown as a book's cover
COVER_STEMS = ("cover", "kapak", "front", "on-kapak", "ön-kapak")

LIBRARY_UNAVAILABLE = _(
    "The media library is unavailable right now. Please try again in a few minutes."
)
UNSERVABLE_NAME = _(
    "The storage service cannot serve files whose names have letters such as ş, ı, ğ or İ. "
    "Ask the publisher to rename this file."
)


def unavailable_reason(path: str) -> Promise | None:
    """Why the LMS cannot play `path` now, or None.

    The one such case known before anyone presses play: a basename DCS's object
    endpoint cannot serve (outside Latin-1), after DCS refused the LMS's account
    presigned URLs (the only other way to read it), unless every read is presigned.
    """
    if not serves_name(path) and cache.get(PRESIGN_REFUSED_KEY) and not settings.DCS_PRESIGNED:
        return UNSERVABLE_NAME
    return None


@dataclass(frozen=True)
class Track:
    """A subtitle file attached to a player."""

    path: str
    srclang: str
    label: str


@dataclass(frozen=True)
class Entry:
    """One file as a page shows it."""

    item: MediaItem
    title: str
    tracks: tuple[Track, ...] = ()
    unavailable: Promise | str | None = None
    preload: str = "metadata"

    @property
    def path(self) -> str:
        return self.item.path

    @property
    def kind(self) -> str:
        return self.item.kind

    @property
    def playable(self) -> bool:
        return self.item.kind in PLAYABLE_KINDS


@dataclass(frozen=True)
class Section:
    """The files of one folder; `folder` is "" for the book's top level."""

    folder: str
    title: str
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class BookOutline:
    cover: Entry | None = None
    sections: tuple[Section, ...] = ()
    #: subtitles no player claims (the admin preview lists them)
    loose_subtitles: tuple[Entry, ...] = ()
    files: int = 0

    def entries(self) -> Iterator[Entry]:
        for section in self.sections:
            yield from section.entries

    @property
    def players(self) -> int:
        return sum(entry.playable for entry in self.entries())

    def __bool__(self) -> bool:
        return bool(self.cover or self.sections or self.loose_subtitles)


def _split_language(stem: str) -> tuple[str, str | None]:
    """`lesson-1.tr` → (`lesson-1`, `tr`); a stem without a language part → (stem, None)."""
    base, dot, last = stem.rpartition(".")
    if dot and base and (tag := language_tag(last)):
        return base, tag
    return stem, None


def _subtitle_index(paths: Iterable[str]) -> dict[str, list[tuple[str, str | None]]]:
    """Media stem (folder/name without extension) → [(subtitle path, language or None)]."""
    index: dict[str, list[tuple[str, str | None]]] = {}
    for path in paths:
        stem, ext = posixpath.splitext(path)
        if ext.lower() not in SUBTITLE_EXTENSIONS:
            continue
        index.setdefault(stem, []).append((path, None))
        base, language = _split_language(stem)
        if language:
            index.setdefault(base, []).append((path, language))
    return index


def _tracks(media_path: str, index: dict, used: set[str]) -> tuple[Track, ...]:
    stem = posixpath.splitext(media_path)[0]
    by_language: dict[str, str] = {}
    for path, language in index.get(stem, ()):
        used.add(path)  # attached (a same-language duplicate is not listed apart either)
        tag = language or site_language()
        known = by_language.get(tag)
        # One track per language: .vtt before .srt, then a language-less file.
        if known is None or (path.lower().endswith(".vtt") and not known.lower().endswith(".vtt")):
            by_language[tag] = path
    tracks = []
    for tag, path in by_language.items():
        if unavailable_reason(path):
            continue
        tracks.append(Track(path, tag, language_label(tag)))
    return tuple(sorted(tracks, key=lambda t: natural_key(t.label)))


def _is_cover(path: str) -> bool:
    stem = posixpath.splitext(posixpath.basename(path))[0].casefold()
    return kind_of(path) == "image" and stem in COVER_STEMS


def _cover_file(files: list[DCSFile]) -> DCSFile | None:
    """The cover image nearest the book's top level."""
    covers = [f for f in files if _is_cover(f.path)]
    return min(covers, key=lambda f: (f.path.count("/"), path_key(f.path))) if covers else None


def _folder_order(folder_entries: tuple[str, list]) -> tuple:
    folder = folder_entries[0]
    return folder != "", path_key(folder)  # the top level first


def build_outline(files: list[DCSFile]) -> BookOutline:
    """The book's shape from its listing (see the module's docstring)."""
    all_paths = {f.path for f in files}
    index = _subtitle_index(all_paths)
    used: set[str] = set()
    cover_file = _cover_file(files)
    cover = None
    if cover_file is not None:
        cover = Entry(media_item(cover_file.path, cover_file.size, all_paths), "")
    folders: dict[str, list[Entry]] = {}
    subtitles: list[MediaItem] = []
    for file in files:
        if cover is not None and file.path == cover.path:
            continue
        item = media_item(file.path, file.size, all_paths)
        if item.kind == "subtitle":
            subtitles.append(item)
            continue
        tracks = _tracks(item.path, index, used) if item.kind in PLAYABLE_KINDS else ()
        entry = Entry(item, human_title(item.path), tracks, unavailable_reason(item.path))
        folders.setdefault(posixpath.dirname(item.path), []).append(entry)
    sections = tuple(
        Section(
            folder,
            folder_title(folder) if folder else "",
            tuple(sorted(entries, key=lambda e: natural_key(e.item.name))),
        )
        for folder, entries in sorted(
            folders.items(), key=lambda kv: (kv[0] != "", path_key(kv[0]))
        )
    )
    loose = tuple(
        Entry(item, human_title(item.path))
        for item in sorted(subtitles, key=lambda i: path_key(i.path))
        if item.path not in used
    )
    return BookOutline(cover, sections, loose, len(files))


def limit_preload(outline: BookOutline, limit: int = PRELOAD_METADATA_LIMIT) -> BookOutline:
    """`limit` players load their metadata with the page, the others only when played:
    videos first (one without metadata is a black box; an audio bar works without), each
    kind in page order."""
    players = [e for e in outline.entries() if e.playable and not e.unavailable]
    ranked = sorted(players, key=lambda e: e.kind != "video")  # stable: page order kept
    eager = {id(e) for e in ranked[:limit]}

    def entry(e: Entry) -> Entry:
        if not e.playable or e.unavailable or id(e) in eager:
            return e
        return dataclasses.replace(e, preload="none")

    sections = tuple(
        dataclasses.replace(s, entries=tuple(entry(e) for e in s.entries)) for s in outline.sections
    )
    return dataclasses.replace(outline, sections=sections)


def book_outline(book: Book) -> tuple[BookOutline, str | None]:
    """The book's outline for a page, or an empty one and a message a person can read."""
    try:
        files = book_files(book.publisher.name, book.book_name)
    except DCSError as error:
        # An open breaker already said so once (one WARNING); not an ERROR per page.
        level = logging.WARNING if isinstance(error, CircuitOpen) else logging.ERROR
        logger.log(level, "Listing book %s failed: %s", book.pk, error)
        return BookOutline(), str(LIBRARY_UNAVAILABLE)
    return limit_preload(build_outline(files)), None


def book_cover(book: Book) -> MediaItem | None:
    """The book's cover image, or None (also when DCS cannot list the book)."""
    try:
        files = book_files(book.publisher.name, book.book_name)
    except DCSError as error:
        logger.warning("Listing book %s for its cover failed: %s", book.pk, error)
        return None
    cover = _cover_file(files)
    return media_item(cover.path, cover.size, set()) if cover else None
