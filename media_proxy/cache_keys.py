"""Shared-cache keys: a readable prefix and a digest of the parts (any text, any length)."""

import hashlib


def cache_key(prefix: str, *parts: str) -> str:
    """E.g. ``cache_key("media:info", publisher, book, path)``; parts are joined by NUL."""
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    return f"{prefix}:{digest[:32]}"
