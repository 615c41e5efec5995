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

from typing import TYPE_CHECKING

from django import template
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from media_proxy.catalog import Entry, MediaItem, book_files, build_outline, human_title, media_item
from media_proxy.dcs import DCSError

if TYPE_CHECKING:
    from books.models import Book

register = template.Library()


@register.simple_tag
def media_url(book: Book, path: str) -> str:
    return reverse("media", kwargs={"book_id": str(book.pk), "asset_path": path})


@register.simple_tag
def track_url(book: Book, subtitle: str) -> str:
    """A subtitle's URL as <track> needs it: an .srt is served as WebVTT."""
    url = media_url(book, subtitle)
    return url + "?format=vtt" if subtitle.lower().endswith(".srt") else url


def _primary(tag: str | None) -> str:
    return (tag or "").split("-")[0].lower()


@register.simple_tag
def media_player(book: Book, path_or_item: str | MediaItem | Entry) -> SafeString:
    entry = _entry(book, path_or_item)
    item = entry.item
    tracks = []
    preferred = None
    if entry.tracks:
        language = _primary(get_language())
        preferred = next((t for t in entry.tracks if _primary(t.srclang) == language), None)
        preferred = preferred or entry.tracks[0]
    # Only a player that loads before it is played loads its subtitles with the page;
    # the others take the preferred language when first played (media_scripts).
    on_load = item.kind == "video" and entry.preload != "none"
    for track in entry.tracks:
        tracks.append(
            {
                "src": track_url(book, track.path),
                "srclang": track.srclang,
                "label": track.label,
                "default": on_load and track is preferred,
            }
        )
    player = {
        "item": item,
        "title": entry.title or item.name,
        "src": media_url(book, item.path),
        "tracks": tracks,
        "preferred": preferred.srclang if preferred else "",
        "preload": entry.preload,
        "unavailable": entry.unavailable,
    }
    return render_to_string("media_proxy/player.html", player)


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
