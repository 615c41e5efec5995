"""`{% media_url book path %}` and `{% media_player book path %}` for any page of the monolith.

    {% load media %}
    <a href="{% media_url book 'audio/08.mp3' %}">Download</a>
    {% media_player book 'video/lesson-1.mp4' %}

The player is the right element for the file (<audio>, <video> or <img>),
with a <track> when a same-named .vtt or .srt exists (an .srt is served as
WebVTT). Media is streamed through the access-checked endpoint with the
page's session cookie.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from django import template
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString

from media_proxy.catalog import MediaItem, book_files, media_item
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


@register.simple_tag
def media_player(book: Book, path_or_item: str | MediaItem) -> SafeString:
    item = path_or_item if isinstance(path_or_item, MediaItem) else _item(book, path_or_item)
    context = {
        "item": item,
        "src": media_url(book, item.path),
        "track_src": track_url(book, item.subtitle) if item.subtitle else None,
        "track_label": posixpath.splitext(posixpath.basename(item.subtitle or ""))[0],
    }
    return render_to_string("media_proxy/player.html", context)


def _item(book: Book, path: str) -> MediaItem:
    try:
        files = book_files(book.publisher.name, book.book_name)
    except DCSError:
        files = []  # still a working player; only the subtitle track is unknown
    sizes = {f.path: f.size for f in files}
    return media_item(path, sizes.get(path, 0), set(sizes))
