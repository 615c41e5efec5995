"""A long book for the course-page tests: 300 audio tracks in 12 units, in the emulator's store.

Each track is the first seconds of a demo MP3 (a short file plays quickly), under
a name a real textbook would use (`Ünite 10/07 Dinleme 7.mp3`). Every third
track has a subtitle (`.vtt`, and `.tr.vtt` for a few).
"""

from pathlib import Path

from tests import media

PUBLISHER = media.PUBLISHER
BOOK = "big-book"
UNITS = 12
TRACKS_PER_UNIT = 25
TRACK_BYTES = 8 * 1024  # about 4 s of the 16 kbit/s demo MP3
SOURCE = media.DEMO_MEDIA / "english-7" / "Ünite 2" / "01 Greetings.mp3"
VTT = "WEBVTT\n\n1\n00:00:00.000 --> 00:00:02.000\n{text}\n"


def track_paths() -> list[str]:
    """Every track's path, in the order the book page shows them."""
    return [
        f"Ünite {unit}/{track:02d} Dinleme {track}.mp3"
        for unit in range(1, UNITS + 1)
        for track in range(1, TRACKS_PER_UNIT + 1)
    ]


def build_big_book(media_root: Path) -> Path:
    """Write the book into the emulator's store (once per store); its folder."""
    folder = media_root / PUBLISHER / "books" / BOOK
    if folder.is_dir():
        return folder
    audio = SOURCE.read_bytes()[:TRACK_BYTES]
    for index, path in enumerate(track_paths()):
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(audio)
        if index % 3 == 0:
            stem = target.with_suffix("")
            stem.with_suffix(".vtt").write_text(VTT.format(text=f"Track {index}"), "utf-8")
            if index % 30 == 0:
                Path(f"{stem}.tr.vtt").write_text(VTT.format(text=f"Parça {index}"), "utf-8")
    cover = folder / "cover.png"
    cover.write_bytes((media.DEMO_MEDIA / "english-7" / "images" / "cover.png").read_bytes())
    return folder
