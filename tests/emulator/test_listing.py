"""GET /storage/books/{publisher}/{book}: the recursive tree of full keys."""

from __future__ import annotations

import pytest
import requests

from dcs_emulator import Emulator

from .conftest import TREE_FILES

pytestmark = pytest.mark.wire


def listing(emu: Emulator, http: requests.Session, auth: dict, book: str, pub: str = "Pub"):
    return http.get(f"{emu.base_url}/storage/books/{pub}/{book}", headers=auth)


def test_tree_with_full_keys_sorted_per_level(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    response = listing(emu, http, auth, "Tree")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    p = "Pub/books/Tree/"

    def file(key: str) -> dict:
        return {"path": p + key, "type": "file", "size": len(TREE_FILES[key]), "children": []}

    assert response.json() == {
        "path": p,
        "type": "folder",
        "children": [
            {
                "path": p + "a/",
                "type": "folder",
                "children": [
                    {"path": p + "a/b/", "type": "folder", "children": [file("a/b/c.txt")]}
                ],
            },
            file("audio.mp3"),  # "audio.mp3" sorts before "audio/" ('.' < '/')
            {
                "path": p + "audio/",
                "type": "folder",
                "children": [file("audio/01.mp3"), file("audio/08.mp3")],
            },
            file("config.json"),
            # the empty directory "emptydir/" holds no object, so it is not listed
        ],
    }
    assert emu.stats.listing_requests == 1
    assert emu.stats.object_requests == 0


def test_keys_strip_to_object_paths(
    emu: Emulator, http: requests.Session, auth: dict[str, str]
) -> None:
    tree = listing(emu, http, auth, "Book").json()
    prefix = "Pub/books/Book/"

    def files(node: dict):
        if node["type"] == "file":
            yield node
        for child in node["children"]:
            yield from files(child)

    keys = {node["path"]: node["size"] for node in files(tree)}
    assert keys[prefix + "Ünite 1/müzik.mp3"] == len(b"latin-1 name")
    assert keys[prefix + "empty.mp3"] == 0
    for key in ("Pub/books/Book/Ünite 1/müzik.mp3", "Pub/books/Book/back\\slash.mp3"):
        path = key.removeprefix(prefix)
        response = http.get(
            f"{emu.base_url}/storage/books/Pub/Book/object", params={"path": path}, headers=auth
        )
        assert response.status_code == 200


@pytest.mark.parametrize("book", ["Empty", "DoesNotExist"])
def test_book_without_files_is_an_empty_folder(
    emu: Emulator, http: requests.Session, auth: dict[str, str], book: str
) -> None:
    response = listing(emu, http, auth, book)
    assert response.status_code == 200
    assert response.json() == {"path": f"Pub/books/{book}/", "type": "folder", "children": []}


@pytest.mark.parametrize(("pub", "book"), [("%2E%2E", "Book"), ("Pub", "%2E"), ("Pub", "a%5Cb")])
def test_bad_names_are_400(
    emu: Emulator, http: requests.Session, auth: dict[str, str], pub: str, book: str
) -> None:
    assert listing(emu, http, auth, book, pub).status_code == 400


def test_listing_is_get_only(emu: Emulator, http: requests.Session, auth: dict[str, str]) -> None:
    response = http.head(f"{emu.base_url}/storage/books/Pub/Book", headers=auth)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    assert http.post(f"{emu.base_url}/storage/books/Pub/Book", headers=auth).status_code == 405
