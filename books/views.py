"""Course pages: the books a user may read, and one book's media with players."""

import logging
import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from books.access import get_readable_book, readable_books
from media_proxy.catalog import book_catalog

logger = logging.getLogger(__name__)


def home(request: HttpRequest) -> HttpResponse:
    return redirect("books:book-list")


@login_required
def book_list(request: HttpRequest) -> HttpResponse:
    books = readable_books(request.user).select_related("publisher")
    return render(request, "books/book_list.html", {"books": books})


@login_required
def book_detail(request: HttpRequest, book_id: uuid.UUID) -> HttpResponse:
    book = get_readable_book(request.user, book_id)
    catalog, error = book_catalog(book)
    return render(
        request, "books/book_detail.html", {"book": book, "catalog": catalog, "dcs_error": error}
    )
