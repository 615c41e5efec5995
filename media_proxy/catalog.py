"""A book's media as pages show it, built from DCS's listing.

Two shapes:

- `book_outline`: the book's own shape for course pages and the admin preview.
  One section per folder, in natural order (`Ünite 2` before `Ünite 10`); human
  titles from file names; the cover apart; subtitles attached to their players
  as tracks whose language comes from the file name (`lesson-1.tr.vtt` → `tr`,
  "Türkçe"; no language part → the site language); files the LMS cannot play
  now marked with the reason (`unavailable_reason`).
- `build_catalog`: the flat listing grouped by kind (kept for callers of the
  older shape).
"""

from __future__ import annotations

import dataclasses
import logging
import posixpath
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.conf.locale import LANG_INFO
from django.core.cache import cache
from django.utils.translation import get_language_info
from django.utils.translation import gettext_lazy as _

from media_proxy.cache_keys import cache_key
from media_proxy.dcs import DCSError, DCSFile, get_dcs_client, serves_name
from media_proxy.media_types import content_type_for
from media_proxy.objects import PRESIGN_REFUSED_KEY

if TYPE_CHECKING:
    from django.utils.functional import Promise

    from books.models import Book

logger = logging.getLogger(__name__)

KINDS = ("video", "audio", "image", "subtitle", "other")
SUBTITLE_EXTENSIONS = (".vtt", ".srt")
PLAYABLE_KINDS = ("video", "audio")
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
#: folder names that get a translated section title
FOLDER_TITLES = {
    "audio": _("Audio"),
    "audios": _("Audio"),
    "video": _("Video"),
    "videos": _("Video"),
    "images": _("Images"),
    "image": _("Images"),
    "subtitles": _("Subtitles"),
}


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
    if kind in PLAYABLE_KINDS:
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
        return {}, str(LIBRARY_UNAVAILABLE)


# --- the book's own shape -------------------------------------------------------------------


def unavailable_reason(path: str) -> Promise | None:
    """Why the LMS cannot play `path` now, or None.

    The one such case known before anyone presses play: a basename DCS's object
    endpoint cannot serve (outside Latin-1), after DCS refused the LMS's account
    presigned URLs (the only other way to read it), unless every read is presigned.
    """
    if not serves_name(path) and cache.get(PRESIGN_REFUSED_KEY) and not settings.DCS_PRESIGNED:
        return UNSERVABLE_NAME
    return None


_DIGITS = re.compile(r"(\d+)")
_DOTLESS = str.maketrans({"ı": "i", "İ": "i"})


def natural_key(text: str) -> tuple:
    """Sort key: numbers by value (`Ünite 2` < `Ünite 10`), letters case- and accent-
    insensitively (`Ünite` next to `Unite`, `ş` next to `s`), then the text itself."""
    folded = unicodedata.normalize("NFKD", text.translate(_DOTLESS).casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    parts = _DIGITS.split(folded)
    # Even positions are text, odd ones numbers: tuples of the same shape compare.
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts)), text


def path_key(path: str) -> tuple:
    return tuple(natural_key(segment) for segment in path.split("/"))


_NUMBERING = re.compile(r"^\s*\d+(?:\.\d+)*(?:[\s._)\]\-–—]+)")
_DIGIT_DASH = re.compile(r"(?<=\D)-(?=\d)|(?<=\d)-(?=\D)")
_SPACES = re.compile(r"\s+")
_TURKISH = re.compile("[ğıİşŞĞ]")


def _upper_first(text: str) -> str:
    if not text or not text[0].islower():
        return text
    if text[0] in "iı" and (_TURKISH.search(text) or settings.LANGUAGE_CODE.startswith("tr")):
        return {"i": "İ", "ı": "I"}[text[0]] + text[1:]
    return text[0].upper() + text[1:]


def human_title(filename: str) -> str:
    """A title from a file name: extension and leading numbering dropped, separators as
    spaces (`01-welcome.mp3` → "Welcome", `lesson-1.mp4` → "Lesson 1", `07.mp3` → "Track 7")."""
    stem = posixpath.splitext(posixpath.basename(filename))[0].strip()
    if stem.isdigit():
        return str(_("Track %(number)d") % {"number": int(stem)})
    title = _NUMBERING.sub("", stem) or stem
    if " " in title:  # spaces separate the words: a hyphen is part of one (`well-being`)
        title = _DIGIT_DASH.sub(" ", title.replace("_", " "))
    else:  # a slug: `ilkbahar-sarkisi`, `lesson_1`
        title = re.sub(r"[-_]+", " ", title)
    title = _SPACES.sub(" ", title).strip(" -–—.")
    return _upper_first(title or stem)


def folder_title(folder: str) -> str:
    """A section title: each folder level as it is named (`Ünite 2`), `audio` and the like
    translated, levels joined with ›."""
    levels = []
    for name in folder.split("/"):
        known = FOLDER_TITLES.get(name.casefold())
        levels.append(
            str(known) if known else _upper_first(_SPACES.sub(" ", name.replace("_", " ")))
        )
    return " › ".join(levels)


_LANGUAGE = re.compile(r"^([a-z]{2,3})(?:[-_]([a-z0-9]{2,8}))?$", re.IGNORECASE)


def language_tag(code: str) -> str | None:
    """A BCP 47 tag for a language part of a file name (`tr`, `pt-br` → `pt-BR`), or None."""
    match = _LANGUAGE.match(code)
    if not match or match[1].lower() not in LANG_INFO:
        return None
    primary, region = match[1].lower(), match[2]
    if region is None:
        return primary
    return f"{primary}-{region.upper() if len(region) == 2 else region.lower()}"


def language_label(tag: str) -> str:
    try:
        return get_language_info(tag.lower())["name_local"]
    except KeyError:
        return tag


def site_language() -> str:
    return language_tag(settings.LANGUAGE_CODE) or settings.LANGUAGE_CODE


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
        logger.error("Listing book %s failed: %s", book.pk, error)
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
