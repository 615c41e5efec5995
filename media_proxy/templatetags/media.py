"""Template tags for any page of the monolith that shows a book's media.

    {% load media %}
    <a href="{% media_url book 'audio/08.mp3' %}">Download</a>
    {% media_player book 'video/lesson-1.mp4' %}
    {% media_scripts %}   {# once per page with players: subtitles menu, error messages #}

The player is the right element for the file (<audio>, <video> or <img>),
named by the file's title, with one <track> per subtitle file of the same
name (`lesson-1.vtt`, `lesson-1.tr.vtt`: an .srt is served as WebVTT) and a
keyboard-operable subtitles menu. A file the LMS cannot play now is shown as
unavailable with the reason instead of a player. Media is streamed through
the access-checked endpoint with the page's session cookie.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING
from urllib.parse import quote

from django import template
from django.template.loader import render_to_string
from django.urls import get_script_prefix, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import RFC3986_SUBDELIMS
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, gettext

from media_proxy.catalog import PLAYABLE_KINDS, MediaItem, book_files, media_item
from media_proxy.dcs import DCSError
from media_proxy.names import human_title
from media_proxy.outline import Entry, Track, build_outline

if TYPE_CHECKING:
    from books.models import Book

register = template.Library()


@register.simple_tag
def media_url(book: Book, path: str) -> str:
    """The media endpoint's URL of `path` (what `reverse("media", ...)` gives, without its
    cost on every one of a long book's players)."""
    return _media_prefix(str(book.pk), get_script_prefix()) + quote(path, safe=_PATH_SAFE)


#: the characters `reverse()` leaves unquoted in a path
_PATH_SAFE = RFC3986_SUBDELIMS + "/~:@"


@functools.lru_cache(maxsize=4096)
def _media_prefix(book_id: str, script_prefix: str) -> str:
    return reverse("media", kwargs={"book_id": book_id, "asset_path": "-"})[:-1]


@register.simple_tag
def track_url(book: Book, subtitle: str) -> str:
    """A subtitle's URL as <track> needs it: an .srt is served as WebVTT."""
    url = media_url(book, subtitle)
    return url + "?format=vtt" if subtitle.lower().endswith(".srt") else url


def _primary(tag: str | None) -> str:
    return (tag or "").split("-")[0].lower()


@register.simple_tag
def media_player(book: Book, path_or_item: str | MediaItem | Entry) -> SafeString:
    """The player of one file (built in Python: a long book has hundreds of them)."""
    entry = _entry(book, path_or_item)
    item = entry.item
    title = entry.title or item.name
    src = media_url(book, item.path)
    if entry.unavailable:
        return format_html(
            '<p class="unavailable" data-unavailable-path="{}"><strong>{}</strong> {}</p>',
            item.path,
            gettext("Not available."),
            entry.unavailable,
        )
    if item.kind == "image":
        return format_html('<img class="preview" src="{}" alt="{}" loading="lazy">', src, title)
    if item.kind not in PLAYABLE_KINDS:
        return format_html('<a href="{}">{}</a>', src, title)
    preferred = _preferred_track(entry)
    # Only a player that loads with the page loads its subtitles with it; the others
    # take the preferred language when first played (media_scripts).
    on_load = item.kind == "video" and entry.preload != "none"
    tracks = [(track, on_load and track is preferred) for track in entry.tracks]
    element = _media_element(book, entry, title, src, tracks)
    menu = _captions_menu(item, title, preferred, tracks) if tracks else ""
    error = ERROR_BOX
    return format_html('<div class="player" data-player>\n{}{}{}\n</div>', element, menu, error)


def _media_element(
    book: Book, entry: Entry, title: str, src: str, tracks: list[tuple[Track, bool]]
) -> SafeString:
    """The <audio> or <video> element, with its subtitle tracks (`True`: loaded as default)."""
    item = entry.item
    return format_html(
        '<{kind} controls preload="{preload}"{inline} aria-label="{title}"'
        ' data-media-path="{path}">\n  <source src="{src}" type="{type}">{tracks}'
        '\n  <a href="{src}">{title}</a>\n</{kind}>',
        kind=item.kind,
        preload=entry.preload,
        inline=mark_safe(" playsinline") if item.kind == "video" else "",
        title=title,
        path=item.path,
        src=src,
        type=item.content_type,
        tracks=format_html_join(
            "",
            '\n  <track kind="subtitles" src="{}" srclang="{}" label="{}"{}>',
            (
                (track_url(book, t.path), t.srclang, t.label, " default" if default else "")
                for t, default in tracks
            ),
        ),
    )


def _captions_menu(
    item: MediaItem, title: str, preferred: Track | None, tracks: list[tuple[Track, bool]]
) -> SafeString:
    """The subtitles menu of a player (and the caption line of an audio player)."""
    return format_html(
        '\n<label class="captions">{label} <select data-captions data-preferred="{preferred}"'
        ' aria-label="{name}">\n  <option value="">{off}</option>{options}\n</select></label>'
        "{cue}",
        label=gettext("Subtitles"),
        preferred=preferred.srclang if preferred else "",
        name=gettext("Subtitles for %(title)s") % {"title": title},
        off=gettext("Off"),
        options=format_html_join(
            "",
            '\n  <option value="{}" lang="{}"{}>{}</option>',
            (
                (t.srclang, t.srclang, " selected" if default else "", t.label)
                for t, default in tracks
            ),
        ),
        cue=mark_safe('\n<p class="cue" data-cue hidden></p>') if item.kind == "audio" else "",
    )


def _preferred_track(entry: Entry) -> Track | None:
    """The subtitles in the reader's language, else the first ones."""
    if not entry.tracks:
        return None
    language = _primary(get_language())
    return next((t for t in entry.tracks if _primary(t.srclang) == language), entry.tracks[0])


#: where media_scripts explains a player that failed
ERROR_BOX = mark_safe('\n<p class="player-error" data-player-error role="alert" hidden></p>')


@register.simple_tag
def media_scripts() -> SafeString:
    """The players' behaviour (subtitles menu, captions of audio, error messages), once a page."""
    return render_to_string("media_proxy/player_script.html")


def _entry(book: Book, value: str | MediaItem | Entry) -> Entry:
    if isinstance(value, Entry):
        return value
    path = value.path if isinstance(value, MediaItem) else value
    try:
        files = book_files(book.publisher.name, book.book_name)
    except DCSError:
        files = []  # still a working player; only the subtitle tracks are unknown
    found = next((e for e in build_outline(files).entries() if e.path == path), None)
    if found is not None:
        return found
    item = value if isinstance(value, MediaItem) else media_item(path, 0, set())
    return Entry(item, human_title(path))
