"""Who may read which book: every rule, every window edge, function and queryset agreeing."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.http import Http404

from books.access import can_read_book, get_readable_book, readable_books
from books.models import Book, BookAssignment
from tests.factories import assign, make_book, make_user

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_now():
    with mock.patch("books.access.timezone.now", return_value=NOW):
        yield


def readable(user, book) -> bool:
    """The function's answer, after checking the queryset and get_readable_book say the same."""
    answer = can_read_book(user, book)
    assert readable_books(user).filter(pk=book.pk).exists() == answer
    assert fetched_readable(user, book.pk) == answer
    return answer


def fetched_readable(user, book_id) -> bool:
    try:
        fetched = get_readable_book(user, book_id)
    except PermissionDenied:
        return False
    assert fetched.pk == book_id
    return True


STATUSES = [Book.Status.DRAFT, Book.Status.PUBLISHED, Book.Status.ARCHIVED]

# (start offset, end offset) from NOW; None is an open end. Active iff start <= now < end.
WINDOWS = [
    ((None, None), True),
    ((-SECOND, None), True),
    ((timedelta(0), None), True),
    ((SECOND, None), False),
    ((None, SECOND), True),
    ((None, timedelta(0)), False),
    ((None, -SECOND), False),
    ((-timedelta(days=1), timedelta(days=1)), True),
    ((-timedelta(days=2), -timedelta(days=1)), False),
    ((timedelta(days=1), timedelta(days=2)), False),
]


def _at(offset):
    return None if offset is None else NOW + offset


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("via", ["user", "group"])
@pytest.mark.parametrize(("window", "active"), WINDOWS, ids=[str(w) for w, _ in WINDOWS])
def test_assignment_windows(status, via, window, active):
    book = make_book(status=status)
    user = make_user()
    target = {"user": user}
    if via == "group":
        group = Group.objects.create(name=f"class-{user.pk}")
        user.groups.add(group)
        target = {"group": group}
    assign(book, starts_at=_at(window[0]), ends_at=_at(window[1]), **target)
    assert readable(user, book) is (active and status == Book.Status.PUBLISHED)


@pytest.mark.parametrize("status", STATUSES)
def test_anonymous_reads_nothing(status):
    book = make_book(status=status)
    assert readable(AnonymousUser(), book) is False


@pytest.mark.parametrize("status", STATUSES)
def test_inactive_user_reads_nothing_even_when_superuser(status):
    book = make_book(status=status)
    user = make_user(is_active=False, is_superuser=True)
    assign(book, user=user)
    assert readable(user, book) is False


@pytest.mark.parametrize("status", STATUSES)
def test_superuser_reads_every_book(status):
    assert readable(make_user(is_superuser=True), make_book(status=status)) is True


@pytest.mark.parametrize("status", STATUSES)
def test_view_book_permission_reads_every_book(status):
    user = make_user()
    user.user_permissions.add(Permission.objects.get(codename="view_book"))
    assert readable(user, make_book(status=status)) is True


@pytest.mark.parametrize("status", STATUSES)
def test_view_book_permission_through_a_group(status):
    user = make_user()
    staff = Group.objects.create(name="content staff")
    staff.permissions.add(Permission.objects.get(codename="view_book"))
    user.groups.add(staff)
    assert readable(user, make_book(status=status)) is True


@pytest.mark.parametrize("status", STATUSES)
def test_publisher_member_reads_their_publishers_books(status):
    book = make_book(status=status)
    member = make_user()
    book.publisher.members.add(member)
    assert readable(member, book) is True


@pytest.mark.parametrize("status", STATUSES)
def test_member_of_another_publisher_reads_nothing_of_this_one(status):
    book = make_book(status=status)
    other = make_book(publisher="Other Pub", status=status)
    member = make_user()
    other.publisher.members.add(member)
    assert readable(member, book) is False


def test_is_staff_alone_grants_nothing():
    assert readable(make_user(is_staff=True), make_book(status=Book.Status.PUBLISHED)) is False


def test_assignment_to_another_user_or_group_grants_nothing():
    book = make_book(status=Book.Status.PUBLISHED)
    assign(book, user=make_user())
    assign(book, group=Group.objects.create(name="Class 8B"))
    assert readable(make_user(), book) is False


def test_one_active_assignment_among_expired_ones_is_enough():
    book = make_book(status=Book.Status.PUBLISHED)
    user = make_user()
    assign(book, user=user, ends_at=NOW - SECOND)
    assign(book, user=user, starts_at=NOW - SECOND)
    assert readable(user, book) is True


def test_readable_by_lists_each_book_once():
    book = make_book(status=Book.Status.PUBLISHED)
    user = make_user()
    group = Group.objects.create(name="Class 7A")
    user.groups.add(group)
    book.publisher.members.add(user)
    assign(book, user=user)
    assign(book, group=group)
    assert list(readable_books(user)) == [book]


def test_assignment_needs_exactly_one_target():
    book = make_book()
    with pytest.raises(IntegrityError):
        BookAssignment.objects.create(book=book)


def test_assignment_cannot_target_both_user_and_group():
    book = make_book()
    with pytest.raises(IntegrityError):
        BookAssignment.objects.create(
            book=book, user=make_user(), group=Group.objects.create(name="g")
        )


def test_book_folder_is_unique_per_publisher():
    make_book(book_name="same")
    with pytest.raises(IntegrityError):
        make_book(book_name="same")


def test_get_readable_book_costs_one_query_for_a_student(django_assert_num_queries):
    book = make_book(status=Book.Status.PUBLISHED)
    user = make_user()
    group = Group.objects.create(name="Class 7A")
    user.groups.add(group)
    assign(book, group=group)
    with django_assert_num_queries(1):
        fetched = get_readable_book(user, str(book.pk))
        publisher = fetched.publisher.name  # loaded by the same statement
    assert fetched == book
    assert (fetched.title, fetched.book_name, fetched.status) == (
        book.title,
        book.book_name,
        book.status,
    )
    assert publisher == book.publisher.name
    assert fetched.publisher == book.publisher


@pytest.mark.parametrize("who", ["member", "superuser"])
def test_get_readable_book_costs_one_query_for_a_member_or_superuser(
    django_assert_num_queries, who
):
    book = make_book(status=Book.Status.DRAFT)
    user = make_user(is_superuser=who == "superuser")
    if who == "member":
        book.publisher.members.add(user)
    with django_assert_num_queries(1):
        assert get_readable_book(user, book.pk).publisher.name == book.publisher.name


@pytest.mark.parametrize("book_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_get_readable_book_is_404_for_no_such_book(book_id):
    with pytest.raises(Http404):
        get_readable_book(make_user(is_superuser=True), book_id)


def test_get_readable_book_is_403_for_an_existing_book_not_readable():
    book = make_book(status=Book.Status.DRAFT)
    user = make_user()
    assign(book, user=user)  # a draft is not readable by assignment
    with pytest.raises(PermissionDenied):
        get_readable_book(user, book.pk)
    with pytest.raises(PermissionDenied):
        get_readable_book(AnonymousUser(), book.pk)
