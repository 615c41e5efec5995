"""`python manage.py check_dcs [BOOK]`: can this LMS log in to DCS and list a book?

Logs in with DCS_BASE_URL, DCS_EMAIL and DCS_PASSWORD (always a fresh login, never
the cached token, and the circuit breaker is bypassed), then lists one book: BOOK
(a Book's id, or `publisher/book_name` as DCS names it), else the first Book in the
database. Prints one line per step; exits 1 with a one-line reason when DCS refuses
the account, cannot be reached, fails (5xx) or lists no file in that book.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from django.core.management.base import BaseCommand, CommandError, CommandParser

from books.models import Book
from media_proxy.dcs import DCSClient, DCSError


class Command(BaseCommand):
    help = "Log in to DCS and list one book's files; exit 1 with the reason when that fails."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "book",
            nargs="?",
            help="A Book's id, or publisher/book_name in DCS (default: the first Book).",
        )

    def handle(self, *args: Any, book: str | None, **options: Any) -> None:
        client = DCSClient(
            settings.DCS_BASE_URL,
            settings.DCS_EMAIL,
            settings.DCS_PASSWORD,
            connect_timeout=settings.DCS_CONNECT_TIMEOUT,
            read_timeout=settings.DCS_READ_TIMEOUT,
            pool_size=1,
            cache=LocMemCache("check-dcs", {}),  # its own: the shared token stays as it is
        )
        started = time.monotonic()
        try:
            client.login()
        except DCSError as error:
            raise CommandError(f"{settings.DCS_BASE_URL}: {error}") from None
        self.stdout.write(
            f"DCS {settings.DCS_BASE_URL}: logged in as {settings.DCS_EMAIL} ({_ms(started)} ms)"
        )
        folder = self._folder(book)
        if folder is None:
            self.stdout.write("No book in the database to list: only the login was checked.")
            return
        publisher, book_name = folder
        started = time.monotonic()
        try:
            files = client.list_book(publisher, book_name)
        except DCSError as error:
            raise CommandError(f"{settings.DCS_BASE_URL}: {error}") from None
        if not files:  # DCS answers an unknown book with an empty listing
            raise CommandError(
                f"DCS lists no file in {publisher}/{book_name}: is that the book's folder in DCS?"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"DCS lists {len(files)} files in {publisher}/{book_name} ({_ms(started)} ms)"
            )
        )

    def _folder(self, book: str | None) -> tuple[str, str] | None:
        """(publisher, book_name) in DCS of the book to list, or None when there is none."""
        if book and "/" in book:
            publisher, _, book_name = book.partition("/")
            return publisher, book_name
        if book:
            try:
                found = Book.objects.select_related("publisher").get(pk=uuid.UUID(book))
            except (ValueError, Book.DoesNotExist):
                raise CommandError(
                    f"No Book with id {book!r} (give a Book's id or publisher/book_name)."
                ) from None
        else:
            found = Book.objects.select_related("publisher").order_by("title", "pk").first()
            if found is None:
                return None
        return found.publisher.name, found.book_name


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
