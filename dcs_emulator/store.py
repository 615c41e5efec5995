"""The object store: a folder laid out as ``{root}/{publisher}/books/{book}/{path}``.

Object keys use ``/`` whatever the platform. ETags are what S3 gives an
object DCS uploaded: the md5 of the content up to ``MULTIPART_THRESHOLD``
bytes; above it the upload went in parts of ``PART_SIZE`` bytes and the ETag
is ``<md5 of the parts' binary md5s>-<number of parts>`` (strong and stable,
but not an md5 of the content). They are cached by file identity so a large
file is hashed once, not on every request.
"""

from __future__ import annotations

import hashlib
import os
import stat as stat_module
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK_SIZE = 32 * 1024
MIB = 1024 * 1024
#: objects larger than this were uploaded in parts (the contract: "over about 5 MiB")
MULTIPART_THRESHOLD = 5 * MIB
#: the part size of those uploads (boto3's default multipart chunk size)
PART_SIZE = 8 * MIB
STORED_TYPE = "application/octet-stream"

CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "ogg": "audio/ogg",
    "wav": "audio/wav",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "srt": "text/plain",
    "vtt": "text/vtt",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "json": "application/json",
}


def content_type_for(key: str) -> str:
    """DCS's Content-Type: the extension map, else the stored type; text/* gets utf-8."""
    name = key.rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    content_type = CONTENT_TYPES.get(extension, STORED_TYPE)
    if content_type.startswith("text/"):
        content_type += "; charset=utf-8"
    return content_type


def cache_control_for(content_type: str) -> str:
    media_type = content_type.split(";", 1)[0].strip()
    if media_type.split("/", 1)[0] in {"image", "audio", "video"}:
        return "public, max-age=86400, immutable"
    if media_type == "application/json":
        return "private, max-age=3600"
    return "public, max-age=3600"


class ObjectNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    file: Path
    size: int
    etag: str  # unquoted: md5 hex, or "<hex>-<parts>" above MULTIPART_THRESHOLD
    content_type: str
    identity: tuple[int, int, int] = (0, 0, 0)  # (size, mtime_ns, inode): changes with the file

    @property
    def basename(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def s3_etag(file: Path, size: int) -> str:
    """The ETag S3 gives ``file`` once uploaded as DCS (boto3) uploads it."""
    if size <= MULTIPART_THRESHOLD:
        digest = hashlib.md5(usedforsecurity=False)
        with file.open("rb") as handle:
            while block := handle.read(MIB):
                digest.update(block)
        return digest.hexdigest()
    parts = []
    with file.open("rb") as handle:
        while part := handle.read(PART_SIZE):
            parts.append(hashlib.md5(part, usedforsecurity=False).digest())
    combined = hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()
    return f"{combined}-{len(parts)}"


class ObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._etags: dict[Path, tuple[tuple[int, int, int], str]] = {}
        self._lock = threading.Lock()

    def _file_for(self, key: str) -> Path:
        segments = key.split("/")
        if any(segment in {"", ".", ".."} for segment in segments) or "\0" in key:
            raise ObjectNotFound(key)
        return self.root.joinpath(*segments)

    def head(self, key: str) -> ObjectInfo:
        """Metadata of one object; :class:`ObjectNotFound` if there is no such file."""
        file = self._file_for(key)
        try:
            stat = file.stat()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ObjectNotFound(key) from exc
        if not stat_module.S_ISREG(stat.st_mode):
            raise ObjectNotFound(key)
        identity = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
        return ObjectInfo(
            key=key,
            file=file,
            size=stat.st_size,
            etag=self._etag(file, identity),
            content_type=content_type_for(key),
            identity=identity,
        )

    def _etag(self, file: Path, identity: tuple[int, int, int]) -> str:
        with self._lock:
            cached = self._etags.get(file)
        if cached is not None and cached[0] == identity:
            return cached[1]
        etag = s3_etag(file, identity[0])
        with self._lock:
            self._etags[file] = (identity, etag)
        return etag

    def read(self, info: ObjectInfo, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start..end`` (inclusive) of an object, in chunks of at most 32 KiB."""
        remaining = end - start + 1
        with info.file.open("rb") as handle:
            handle.seek(start)
            while remaining > 0:
                chunk = handle.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

    def files(self) -> Iterator[tuple[str, Path]]:
        """(key, file) of every regular file under the root, keys with ``/``."""
        for directory, _subdirs, names in os.walk(self.root):
            for name in sorted(names):
                file = Path(directory, name)
                if file.is_file():
                    yield file.relative_to(self.root).as_posix(), file

    def list_tree(self, prefix: str) -> dict[str, Any]:
        """The listing of every object under ``prefix`` (which ends with ``/``) as a tree.

        Folders exist only as prefixes of objects, as in S3: an empty
        directory does not appear. Each level is sorted by ``path``.
        """
        tree: dict[str, Any] = {"path": prefix, "type": "folder", "children": []}
        base = self._file_for(prefix.rstrip("/"))
        folders = {prefix: tree}
        for directory, _subdirs, files in os.walk(base):
            relative_dir = Path(directory).relative_to(base).as_posix()
            for name in files:
                file = Path(directory, name)
                if not file.is_file():
                    continue
                relative = name if relative_dir == "." else f"{relative_dir}/{name}"
                parent = tree
                folder_key = prefix
                for part in relative.split("/")[:-1]:
                    folder_key = f"{folder_key}{part}/"
                    if folder_key not in folders:
                        folder = {"path": folder_key, "type": "folder", "children": []}
                        parent["children"].append(folder)
                        folders[folder_key] = folder
                    parent = folders[folder_key]
                parent["children"].append(
                    {
                        "path": prefix + relative,
                        "type": "file",
                        "size": file.stat().st_size,
                        "children": [],
                    }
                )
        for folder in folders.values():
            folder["children"].sort(key=lambda node: node["path"])
        return tree
