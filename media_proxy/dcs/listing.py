"""A book's listing as DCS sends it (a recursive tree of full object keys), flattened."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from media_proxy.dcs.errors import DCSUnavailable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DCSFile:
    """A file of a book; ``path`` is relative to the book folder."""

    path: str
    size: int


def flatten_listing(tree: Any, prefix: str, what: str) -> list[DCSFile]:
    """The files under ``prefix`` (``{publisher}/books/{book}/``), sorted by path."""
    files: list[DCSFile] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            raise DCSUnavailable(f"DCS sent a malformed {what}: a node is not an object")
        children = node.get("children") or []
        if not isinstance(children, list):
            raise DCSUnavailable(f"DCS sent a malformed {what}: children is not a list")
        stack.extend(children)
        if node.get("type") != "file":
            continue
        key, size = node.get("path"), node.get("size")
        if not isinstance(key, str) or not isinstance(size, int) or isinstance(size, bool):
            raise DCSUnavailable(f"DCS sent a malformed {what}: bad file entry")
        if not key.startswith(prefix) or key == prefix:
            logger.warning("Skipping %r in the DCS %s: not under %r", key, what, prefix)
            continue
        files.append(DCSFile(path=key[len(prefix) :], size=size))
    files.sort(key=lambda f: f.path)
    return files
