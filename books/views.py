"""Course pages: the books a user may read, and one book's media with players."""

import logging
import uuid

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from books.access import can_read_book
from books.models import Book
from media_proxy.catalog import book_catalog

logger = logging.getLogger(__name__)


def home(request: HttpRequest) -> HttpResponse:
    return redirect("books:book-list")


@login_required
def book_list(request: HttpRequest) -> HttpResponse:
    books = Book.objects.readable_by(request.user).select_related("publisher")
    return render(request, "books/book_list.html", {"books": books})


@login_required
def book_detail(request: HttpRequest, book_id: uuid.UUID) -> HttpResponse:
    book = get_object_or_404(Book.objects.select_related("publisher"), pk=book_id)
    if not can_read_book(request.user, book):
        raise PermissionDenied
    catalog, error = book_catalog(book)
    return render(
        request, "books/book_detail.html", {"book": book, "catalog": catalog, "dcs_error": error}
    )
