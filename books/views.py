"""Course pages: the books a user may read, and one book in its own shape with players."""

import logging
import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import cache_control

from books.access import get_readable_book, readable_books
from media_proxy.outline import book_cover, book_outline

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
    outline, error = book_outline(book)
    return render(
        request, "books/book_detail.html", {"book": book, "outline": outline, "dcs_error": error}
    )


@login_required
@cache_control(private=True, max_age=300)
def cover(request: HttpRequest, book_id: uuid.UUID) -> HttpResponse:
    """GET /books/{id}/cover: a redirect to the cover's media URL (the book list's thumbnails
    load lazily, so DCS is asked for a book's listing only when its card is seen)."""
    book = get_readable_book(request.user, book_id)
    cover = book_cover(book)
    if cover is None:
        raise Http404("This book has no cover.")
    return redirect(reverse("media", kwargs={"book_id": str(book.pk), "asset_path": cover.path}))
