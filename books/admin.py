from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Field
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from books.access import get_readable_book
from books.models import Book, BookAssignment, Publisher
from media_proxy.outline import book_outline
from media_proxy.paths import InvalidPath, validate_asset_path
from media_proxy.signing import QUERY_PARAM, sign_link

admin.site.site_header = gettext_lazy("Dream LMS administration")
admin.site.site_title = gettext_lazy("Dream LMS admin")
admin.site.index_title = gettext_lazy("Books, classes and people")

#: the lifetimes "Copy link" offers (seconds); those over MEDIA_LINK_MAX_AGE are left out
LINK_LIFETIMES = (15 * 60, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600)


def link_lifetimes() -> list[tuple[int, str]]:
    """(seconds, label) for each lifetime a staff member may choose, shortest first."""
    choices = []
    for seconds in (s for s in LINK_LIFETIMES if s <= settings.MEDIA_LINK_MAX_AGE):
        if seconds < 3600:
            minutes = seconds // 60
            label = ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}
        elif seconds < 86400:
            hours = seconds // 3600
            label = ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
        else:
            days = seconds // 86400
            label = ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
        choices.append((seconds, label))
    return choices


def status_badge(book: Book) -> SafeString:
    """A Draft/Archived badge for a book that is not published (nothing otherwise)."""
    return render_to_string("books/_status.html", {"book": book})


@admin.register(Publisher)
class PublisherAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]
    autocomplete_fields = ["members"]


class BookAssignmentInline(admin.TabularInline):
    model = BookAssignment
    fk_name = "book"
    extra = 0
    fields = ["user", "group", "starts_at", "ends_at", "assigned_by", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["user", "group", "assigned_by"]

    def get_formset(
        self, request: HttpRequest, obj: Book | None = None, **kwargs: Any
    ) -> type[BaseInlineFormSet]:
        formset = super().get_formset(request, obj, **kwargs)

        class NamedDeleteFormSet(formset):
            def add_fields(self, form: forms.Form, index: int | None) -> None:
                super().add_fields(form, index)
                if "DELETE" in form.fields:
                    form.fields["DELETE"].widget.attrs["aria-label"] = gettext("Delete")

        return NamedDeleteFormSet

    def formfield_for_dbfield(
        self, db_field: Field, request: HttpRequest, **kwargs: Any
    ) -> forms.Field | None:
        """Each input of a table row named by its column (a screen reader reads no header)."""
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None:
            name = capfirst(db_field.verbose_name)
            widget = getattr(field.widget, "widget", field.widget)  # inside the related wrapper
            parts = getattr(widget, "widgets", None)
            if parts and len(parts) == 2:  # the split date and time
                parts[0].attrs["aria-label"] = f"{name}: {gettext('date')}"
                parts[1].attrs["aria-label"] = f"{name}: {gettext('time')}"
            else:
                widget.attrs["aria-label"] = name
        return field


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    list_display = ["title_with_status", "publisher", "book_name", "status"]
    list_display_links = ["title_with_status"]
    list_filter = ["status", "publisher"]
    search_fields = ["title", "book_name", "publisher__name"]
    list_select_related = ["publisher"]
    inlines = [BookAssignmentInline]

    @admin.display(description=gettext_lazy("title"), ordering="title")
    def title_with_status(self, book: Book) -> SafeString:
        return format_html("{}{}", book.title, status_badge(book))

    def get_urls(self) -> list[URLPattern]:
        link = self.admin_site.admin_view(self.media_link_view)
        return [
            path("<path:object_id>/media-link/", link, name="books_book_media_link"),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        book = self.get_object(request, object_id)
        if book is not None:
            outline, error = book_outline(book)
            extra_context = {
                **(extra_context or {}),
                "media_outline": outline,
                "media_error": error,
                "status_badge": status_badge(book),
                "link_lifetimes": link_lifetimes(),
                "media_link_url": reverse("admin:books_book_media_link", args=[book.pk]),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    @staticmethod
    def _refuse(message: str, status: int) -> JsonResponse:
        return JsonResponse({"detail": message}, status=status)

    def media_link_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST {path, lifetime}: a signed link to one file of the book, as
        POST /api/v1/books/{id}/media-links makes it (the same access rule, path check and
        signature), living `lifetime` seconds (at most MEDIA_LINK_MAX_AGE)."""
        return require_POST(self._media_link)(request, object_id)

    def _media_link(self, request: HttpRequest, object_id: str) -> HttpResponse:
        book = self.get_object(request, object_id)
        if book is None or not self.has_view_permission(request, book):
            raise PermissionDenied
        book = get_readable_book(request.user, book.pk)
        try:
            asset_path = validate_asset_path(request.POST.get("path", ""))
        except InvalidPath as error:
            return self._refuse(gettext(str(error)), 400)
        allowed = dict(link_lifetimes())
        try:
            lifetime = int(request.POST.get("lifetime", ""))
        except ValueError:
            lifetime = 0
        if lifetime not in allowed:
            return self._refuse(gettext("Choose how long the link may be used."), 400)
        token, expires_at = sign_link(request.user.pk, str(book.pk), asset_path, lifetime)
        url = reverse("media", kwargs={"book_id": str(book.pk), "asset_path": asset_path})
        return JsonResponse(
            {
                "url": request.build_absolute_uri(f"{url}?{QUERY_PARAM}={token}"),
                "expires_at": expires_at.isoformat(),
                "lifetime": allowed[lifetime],
            },
            status=201,
        )


@admin.register(BookAssignment)
class BookAssignmentAdmin(admin.ModelAdmin):
    list_display = [
        "book_with_status",
        "user",
        "group",
        "starts_at",
        "ends_at",
        "assigned_by",
        "created_at",
    ]
    list_filter = ["book__publisher"]
    search_fields = ["book__title", "user__username", "group__name"]
    list_select_related = ["book", "user", "group"]
    autocomplete_fields = ["book", "user", "group", "assigned_by"]

    @admin.display(description=gettext_lazy("book"), ordering="book__title")
    def book_with_status(self, assignment: BookAssignment) -> SafeString:
        return format_html("{}{}", assignment.book.title, status_badge(assignment.book))
