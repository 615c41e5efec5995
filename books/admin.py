from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from books.models import Book, BookAssignment, Publisher
from media_proxy.catalog import book_catalog


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


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    list_display = ["title", "publisher", "book_name", "status"]
    list_filter = ["status", "publisher"]
    search_fields = ["title", "book_name", "publisher__name"]
    list_select_related = ["publisher"]
    inlines = [BookAssignmentInline]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        book = self.get_object(request, object_id)
        if book is not None:
            catalog, error = book_catalog(book)
            extra_context = {
                **(extra_context or {}),
                "media_catalog": catalog,
                "media_error": error,
            }
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(BookAssignment)
class BookAssignmentAdmin(admin.ModelAdmin):
    list_display = ["book", "user", "group", "starts_at", "ends_at", "assigned_by", "created_at"]
    list_filter = ["book__publisher"]
    search_fields = ["book__title", "user__username", "group__name"]
    list_select_related = ["book", "user", "group"]
    autocomplete_fields = ["book", "user", "group", "assigned_by"]
