"""Who may read which book: the one place these rules live.

1. Anonymous or inactive users read nothing.
2. Superusers and users with `books.view_book` (staff previewing content)
   read every book, whatever its status.
3. A member of the book's publisher reads every book of that publisher.
4. Anyone else reads a *published* book assigned to them, or to one of their
   groups, by an assignment active now: starts_at <= now < ends_at, either
   end open.

`can_read_book` answers for one book on every media request, cheapest check
first; `Book.objects.readable_by` answers for lists. Tests hold them equal
over the whole matrix.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Q
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from books.models import Book

VIEW_ANY_BOOK_PERMISSION = "books.view_book"


def active_assignment_q(now: datetime) -> Q:
    """Assignments whose window contains `now` (start inclusive, end exclusive)."""
    return (Q(starts_at__isnull=True) | Q(starts_at__lte=now)) & (
        Q(ends_at__isnull=True) | Q(ends_at__gt=now)
    )


def _reads_every_book(user: AbstractBaseUser) -> bool:
    return user.is_superuser or user.has_perm(VIEW_ANY_BOOK_PERMISSION)


def _member_or_assigned_q(user: AbstractBaseUser, now: datetime) -> Q:
    """Rules 3 and 4 as one condition on books."""
    from books.models import BookAssignment

    assigned = BookAssignment.objects.filter(Q(user=user) | Q(group__in=user.groups.all())).filter(
        active_assignment_q(now)
    )
    return Q(publisher__members=user) | Q(status="published", pk__in=assigned.values("book_id"))


def can_read_book(user: AbstractBaseUser | AnonymousUser, book: Book) -> bool:
    """One query for a student or a publisher member (the common callers), checked first;
    the permission lookup (two queries, then cached on the user) only after that."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    from books.models import Book  # books.models imports this module

    rules_3_and_4 = _member_or_assigned_q(user, timezone.now())
    if Book.objects.filter(pk=book.pk).filter(rules_3_and_4).exists():
        return True
    return user.has_perm(VIEW_ANY_BOOK_PERMISSION)


class BookQuerySet(models.QuerySet):
    def readable_by(self, user: AbstractBaseUser | AnonymousUser) -> BookQuerySet:
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if _reads_every_book(user):
            return self.all()
        return self.filter(_member_or_assigned_q(user, timezone.now())).distinct()
