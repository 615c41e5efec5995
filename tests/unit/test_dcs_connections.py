"""GetTemplate: DCS GETs prepared once per base URL send what requests' own prepare sends."""

from __future__ import annotations

import pytest

from media_proxy.dcs.client import _segment
from media_proxy.dcs.connections import GetTemplate, prepare_get

BASES = [
    "http://dcs.test",
    "http://dcs.test/",
    "https://dcs.example:8443/api",
    "http://127.0.0.1:8080",
    "https://depo.örnek.tr",  # IDNA: requests encodes the host once, for the base
]
NAMES = [
    ("Pub", "Book", "audio/01.mp3"),
    ("Yayınevi Ş", "Türkçe Kitap", "ses/Ünite 1 — Giriş.mp3"),
    ("a+b&c=d", "50% off", "q?a=1#frag/with space.mp4"),
    ("~tilde_-.", "emoji 🎧", "video/%41 stays %41.webm"),
]


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize(("publisher", "book", "path"), NAMES)
def test_template_sends_what_requests_would(base, publisher, book, path):
    endpoint = f"/storage/books/{_segment(publisher)}/{_segment(book)}/object"
    headers = {"Accept-Encoding": "identity", "Authorization": "Bearer t", "Range": "bytes=0-1"}
    template = GetTemplate(base)

    sent = template.get(endpoint, {"path": path}, headers)
    expected = prepare_get(template.base_url + endpoint, {"path": path}, headers)

    assert (sent.method, sent.url, dict(sent.headers), sent.body) == (
        expected.method,
        expected.url,
        dict(expected.headers),
        expected.body,
    )


def test_template_without_query():
    template = GetTemplate("http://dcs.test/")
    sent = template.get("/storage/books/Pub/Book", None, {})
    assert sent.url == "http://dcs.test/storage/books/Pub/Book"


def test_the_base_is_normalised_once():
    host = "depo.örnek.tr".encode("idna").decode()
    assert GetTemplate("https://depo.örnek.tr/").base_url == f"https://{host}"
