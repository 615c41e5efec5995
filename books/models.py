"""Publishers, books and who a book is assigned to.

The field names are a public interface (other apps, data migrations and
operations scripts use them). Who may read what lives in `books.access`,
which imports this module; this module imports nothing of the app.
"""

import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q


class Publisher(models.Model):
    name = models.CharField(max_length=200, unique=True, help_text="The DCS publisher segment.")
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="publishers"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        ARCHIVED = "archived", "Archived"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    publisher = models.ForeignKey(Publisher, on_delete=models.PROTECT, related_name="books")
    book_name = models.CharField(max_length=200, help_text="The book's folder name in DCS.")
    title = models.CharField(max_length=300)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)

    class Meta:
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(fields=["publisher", "book_name"], name="unique_book_folder"),
        ]

    def __str__(self) -> str:
        return self.title


class BookAssignment(models.Model):
    """A book given to one user or to one group (a class), optionally for a window."""

    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="book_assignments",
    )
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="book_assignments"
    )
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(user__isnull=False, group__isnull=True)
                    | Q(user__isnull=True, group__isnull=False)
                ),
                name="assignment_has_exactly_one_target",
            ),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True)
                | Q(ends_at__isnull=True)
                | Q(starts_at__lt=models.F("ends_at")),
                name="assignment_window_is_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.book} → {self.user or self.group}"
