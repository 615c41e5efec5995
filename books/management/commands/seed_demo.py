"""Demo data: a publisher, three books (one a draft), four users and real media in the local
DCS."""

import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from books.models import Book, BookAssignment, Publisher

DEMO_MEDIA = Path(__file__).resolve().parents[2] / "demo_media"
PUBLISHER = "DreamPress"
CLASS_NAME = "Class 7A"
BOOKS = [
    ("english-7", "English 7: Sounds and Stories", Book.Status.PUBLISHED),
    ("science-8", "Science 8: Light and Sound", Book.Status.PUBLISHED),
    ("history-9", "History 9: Draft Edition", Book.Status.DRAFT),
]


class Command(BaseCommand):
    help = "Create (or refresh) the demo publisher, books, users and media. Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", default="demo-pass", help="Password of every demo user.")
        parser.add_argument(
            "--dcs-root",
            default=str(settings.DCS_EMULATOR_ROOT),
            help="The local DCS emulator's storage folder (default: DCS_EMULATOR_ROOT).",
        )

    @transaction.atomic
    def handle(self, *args: Any, password: str, dcs_root: str, **options: Any) -> None:
        publisher, _ = Publisher.objects.get_or_create(name=PUBLISHER)
        books = {}
        for book_name, title, status in BOOKS:
            books[book_name], _ = Book.objects.update_or_create(
                publisher=publisher,
                book_name=book_name,
                defaults={"title": title, "status": status},
            )
        klass, _ = Group.objects.get_or_create(name=CLASS_NAME)

        admin = self._user("demo-admin", password, is_staff=True, is_superuser=True)
        member = self._user("demo-publisher", password, is_staff=False)
        student = self._user("demo-student", password)
        self._user("demo-outsider", password)
        publisher.members.add(member)
        student.groups.add(klass)
        BookAssignment.objects.get_or_create(
            book=books["english-7"], group=klass, defaults={"assigned_by": admin}
        )

        self._copy_media(Path(dcs_root))
        self.stdout.write(
            self.style.SUCCESS(
                "Demo data ready. Users demo-admin, demo-publisher, demo-student, "
                f"demo-outsider; password {password!r}."
            )
        )

    def _user(self, username: str, password: str, **flags: bool) -> AbstractBaseUser:
        user, _ = get_user_model().objects.update_or_create(
            username=username, defaults={"is_active": True, **flags}
        )
        user.set_password(password)
        user.save(update_fields=["password"])
        return user

    def _copy_media(self, root: Path) -> None:
        """Each book's folder of demo_media/ (english-7: two units, video with English and
        Turkish subtitles, a file named outside Latin-1; the others: their covers)."""
        book_root = root / PUBLISHER / "books"
        for book_name, _title, _status in BOOKS:
            source = DEMO_MEDIA / book_name
            if source.is_dir():
                shutil.copytree(source, book_root / book_name, dirs_exist_ok=True)
        self.stdout.write(f"Media copied to {book_root}")
