"""Small builders for test data; tests commit it so servers under test see it."""

import itertools
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.authtoken.models import Token

from books.models import Book, BookAssignment, Publisher
from tests import media

_counter = itertools.count()


def make_user(username: str | None = None, *, password: str = "pw-test-123", **fields):
    username = username or f"user{next(_counter)}"
    user = get_user_model().objects.create_user(username=username, password=password, **fields)
    return user


def make_book(
    *,
    publisher: str = media.PUBLISHER,
    book_name: str = media.BOOK,
    status: str = Book.Status.PUBLISHED,
    title: str = "Test book",
) -> Book:
    pub, _ = Publisher.objects.get_or_create(name=publisher)
    return Book.objects.create(publisher=pub, book_name=book_name, title=title, status=status)


def assign(
    book: Book,
    *,
    user=None,
    group: Group | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> BookAssignment:
    return BookAssignment.objects.create(
        book=book, user=user, group=group, starts_at=starts_at, ends_at=ends_at
    )


def student_with_book(**book_fields) -> tuple:
    """A user with a direct, open-ended assignment to a published book."""
    book = make_book(**book_fields)
    user = make_user()
    assign(book, user=user)
    return user, book


def session_cookie(user) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {"sessionid": client.cookies["sessionid"].value}


def bearer(user) -> dict[str, str]:
    token, _ = Token.objects.get_or_create(user=user)
    return {"Authorization": f"Bearer {token.key}"}
