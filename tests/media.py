"""The files the emulator serves in tests: exact bytes we can compare against."""

import random
import shutil
from pathlib import Path

DEMO_MEDIA = Path(__file__).resolve().parent.parent / "books" / "demo_media"

PUBLISHER = "Test Pub"  # a space, so publisher segments get percent-encoded
BOOK = "book-a"


def _random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


GENERATED: dict[str, bytes] = {
    "data/hello.txt": b"hello world",
    "data/empty.bin": b"",
    "data/one.bin": b"x",
    "data/random-1m.bin": _random_bytes(1024 * 1024, 1),
    "data/random-300k.bin": _random_bytes(300_000, 2),
    "data/random-1000.bin": _random_bytes(1000, 4),
    "data/random-4m.bin": _random_bytes(4 * 1024 * 1024, 3),
    # Larger than any socket buffer: a stream of it stays open while nobody reads.
    "data/zeros-32m.bin": bytes(32 * 1024 * 1024),
}
COPIED: dict[str, str] = {
    "audio/08.mp3": "english-7/audio/01-welcome.mp3",
    "videos/unit 1/intro.mp4": "english-7/video/lesson-1.mp4",
    "videos/unit 1/intro.vtt": "english-7/video/lesson-1.vtt",
    "videos/unit 1/intro.srt": "english-7/video/lesson-1.srt",
    "Ünite 1/müzik.mp3": "english-7/Ünite 1/müzik.mp3",
    "Ünite 2/şarkı.mp3": "english-7/audio/01-welcome.mp3",  # DCS cannot serve this name
}


def file_bytes(path: str) -> bytes:
    if path in GENERATED:
        return GENERATED[path]
    return (DEMO_MEDIA / COPIED[path]).read_bytes()


def build_media_root(root: Path) -> Path:
    book = root / PUBLISHER / "books" / BOOK
    for relative, content in GENERATED.items():
        (book / relative).parent.mkdir(parents=True, exist_ok=True)
        (book / relative).write_bytes(content)
    for relative, source in COPIED.items():
        (book / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DEMO_MEDIA / source, book / relative)
    demo = root / "DreamPress" / "books"
    demo.mkdir(parents=True)
    shutil.copytree(DEMO_MEDIA / "english-7", demo / "english-7")
    return root
