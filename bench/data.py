"""What the benchmark serves: an object store laid out as DCS's, and a seeded database."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from local_servers import OFFLOAD_SECRET

ROOT = Path(__file__).resolve().parent.parent

PUBLISHER = "BenchPub"  # ASCII names: the reference nginx uses $arg_path undecoded
BOOK = "bench-book"
MiB = 1024 * 1024

BIG = "big-256m.bin"  # sparse: throughput
HUGE = "huge-1g.bin"  # sparse: memory while streaming
RANDOM = "random-16m.bin"  # seeded random bytes: every byte checked under load
SMALL = "clip-300k.mp3"  # seeded random bytes: the request-count shapes

SIZES = {BIG: 256 * MiB, HUGE: 1024 * MiB, RANDOM: 16 * MiB, SMALL: 300 * 1024}
# What the presigned paths read: uploaded into the S3 stand-in at start (not HUGE,
# which only figure 4 streams, from the reference nginx).
S3_FILES = (BIG, RANDOM, SMALL)


USERS = 200  # one reader per concurrent client, as in a class of students


@dataclass
class Credentials:
    """One database's readers: the book's id there and each reader's three credentials."""

    database_url: str
    book_id: str
    tokens: list[str]  # one DRF token per reader, all assigned the book
    sessions: list[str]  # one session key per reader (the `sessionid` cookie)
    links: list[str]  # one signed link (`?sig=`) per reader, for RANDOM


@dataclass
class Dataset:
    storage_root: Path  # every file; the S3-backed emulator's folder is s3_root
    database: Path
    book_id: str
    tokens: list[str]  # one DRF token per reader, all assigned the book
    random_content: bytes
    small_content: bytes
    sqlite: Credentials | None = None
    postgres: Credentials | None = None  # when the run has a PostgreSQL cluster

    @property
    def token(self) -> str:
        return self.tokens[0]

    @property
    def s3_root(self) -> Path:
        return self.storage_root.parent / "storage-s3"

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


def build_s3_storage(storage_root: Path, root: Path) -> None:
    """A second object store folder holding only S3_FILES, hard links to the first's."""
    source = storage_root / PUBLISHER / "books" / BOOK
    book = root / PUBLISHER / "books" / BOOK
    book.mkdir(parents=True)
    for name in S3_FILES:
        (book / name).hardlink_to(source / name)


SEED_SCRIPT = f"""
import json
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from books.models import Book, BookAssignment, Publisher
from media_proxy.signing import sign_link

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
SessionStore = import_module(settings.SESSION_ENGINE).SessionStore
sessions = []
for user in users:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    sessions.append(session.session_key)
links = [sign_link(user.pk, str(book.pk), {RANDOM!r})[0] for user in users]
print("BENCH-SEED " + json.dumps(
    {{"book": str(book.pk), "tokens": tokens, "sessions": sessions, "links": links}}
))
"""


def sqlite_url(database: Path) -> str:
    return f"sqlite:///{database}"


def django_env(database_url: str) -> dict[str, str]:
    """The settings every LMS process of the benchmark shares (see `servers.start_gunicorn`)."""
    return {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "bench",
        "LMS_TESTING": "1",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": database_url,
        "MEDIA_OFFLOAD_SECRET": OFFLOAD_SECRET,  # what local_servers renders for nginx
    }


def seed_database(database_url: str) -> Credentials:
    """Migrate a fresh database; a published book, readers assigned to it, their credentials."""
    env = django_env(database_url)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run(
        [*manage, "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=180
    )
    result = subprocess.run(
        [*manage, "shell", "-c", SEED_SCRIPT],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    for line in result.stdout.splitlines():
        if line.startswith("BENCH-SEED "):
            seeded = json.loads(line.removeprefix("BENCH-SEED "))
            return Credentials(
                database_url,
                seeded["book"],
                seeded["tokens"],
                seeded["sessions"],
                seeded["links"],
            )
    raise RuntimeError(f"seeding printed no ids: {result.stdout!r} {result.stderr!r}")


def build(workdir: Path) -> Dataset:
    storage = workdir / "storage"
    random_content, small_content = build_storage(storage)
    build_s3_storage(storage, workdir / "storage-s3")
    database = workdir / "bench.sqlite3"
    sqlite = seed_database(sqlite_url(database))
    return Dataset(
        storage,
        database,
        sqlite.book_id,
        sqlite.tokens,
        random_content,
        small_content,
        sqlite=sqlite,
    )
