"""What the benchmark serves: an object store laid out as DCS's, and a seeded database."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PUBLISHER = "BenchPub"  # ASCII names: the reference nginx uses $arg_path undecoded
BOOK = "bench-book"
MiB = 1024 * 1024

BIG = "big-256m.bin"  # sparse: throughput
HUGE = "huge-1g.bin"  # sparse: memory while streaming
RANDOM = "random-16m.bin"  # seeded random bytes: every byte checked under load
SMALL = "clip-300k.mp3"  # seeded random bytes: the request-count shapes

SIZES = {BIG: 256 * MiB, HUGE: 1024 * MiB, RANDOM: 16 * MiB, SMALL: 300 * 1024}


USERS = 200  # one reader per concurrent client, as in a class of students


@dataclass
class Dataset:
    storage_root: Path
    database: Path
    book_id: str
    tokens: list[str]  # one DRF token per reader, all assigned the book
    random_content: bytes
    small_content: bytes

    @property
    def token(self) -> str:
        return self.tokens[0]

    def size(self, name: str) -> int:
        return SIZES[name]

    def content(self, name: str) -> bytes | None:
        return {RANDOM: self.random_content, SMALL: self.small_content}.get(name)


def build_storage(root: Path) -> tuple[bytes, bytes]:
    book = root / PUBLISHER / "books" / BOOK
    book.mkdir(parents=True)
    for name in (BIG, HUGE):
        with (book / name).open("wb") as handle:
            handle.truncate(SIZES[name])
    random_content = random.Random(16).randbytes(SIZES[RANDOM])
    small_content = random.Random(300).randbytes(SIZES[SMALL])
    (book / RANDOM).write_bytes(random_content)
    (book / SMALL).write_bytes(small_content)
    return random_content, small_content


SEED_SCRIPT = f"""
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from books.models import Book, BookAssignment, Publisher

publisher = Publisher.objects.create(name={PUBLISHER!r})
book = Book.objects.create(
    publisher=publisher, book_name={BOOK!r}, title="Benchmark book", status="published"
)
User = get_user_model()
users = User.objects.bulk_create(
    [User(username=f"bench-student-{{i:03d}}") for i in range({USERS})]
)
users = list(User.objects.filter(username__startswith="bench-student-").order_by("username"))
BookAssignment.objects.bulk_create([BookAssignment(book=book, user=user) for user in users])
tokens = [Token.objects.create(user=user).key for user in users]
print("BENCH-SEED " + json.dumps({{"book": str(book.pk), "tokens": tokens}}))
"""


def django_env(database: Path) -> dict[str, str]:
    """The settings every LMS process of the benchmark shares (see `servers.lms_env`)."""
    return {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "bench",
        "LMS_TESTING": "1",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": f"sqlite:///{database}",
    }


def seed_database(database: Path) -> tuple[str, list[str]]:
    """Migrate a fresh SQLite file; create a published book, readers assigned to it, tokens."""
    env = django_env(database)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run(
        [*manage, "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    result = subprocess.run(
        [*manage, "shell", "-c", SEED_SCRIPT],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    )
    for line in result.stdout.splitlines():
        if line.startswith("BENCH-SEED "):
            seeded = json.loads(line.removeprefix("BENCH-SEED "))
            return seeded["book"], seeded["tokens"]
    raise RuntimeError(f"seeding printed no ids: {result.stdout!r} {result.stderr!r}")


def build(workdir: Path) -> Dataset:
    storage = workdir / "storage"
    random_content, small_content = build_storage(storage)
    database = workdir / "bench.sqlite3"
    book_id, tokens = seed_database(database)
    return Dataset(storage, database, book_id, tokens, random_content, small_content)
