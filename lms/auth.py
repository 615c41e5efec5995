"""Who a request's user is, read in raw statements: Django's session store and auth
backend, and DRF's token lookup (media_proxy.authentication), with Django's rules.

The ORM compiles the same query anew on every request; for a session that was two
queries and half of `/api/v1/me`'s CPU (docs/benchmarks.md). The statements are
built once from the models' metadata, quoted by the backend; values are parameters.
Nothing is cached across requests: a deleted session, a deactivated user or a
changed password stops the next request.
"""

from __future__ import annotations

import functools

from django.contrib.auth import backends, get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


def user_select(joins_and_where: str) -> str:
    """SELECT every column of the user `u` (the user model's table), then `joins_and_where`."""
    from django.db import connection

    quote = connection.ops.quote_name
    user = get_user_model()._meta
    columns = ", ".join(f"u.{quote(field.column)}" for field in user.concrete_fields)
    return f"SELECT {columns} FROM {quote(user.db_table)} u {joins_and_where}"  # noqa: S608


def first_user(sql: str, params: list[object]) -> AbstractBaseUser | None:
    """The user the statement `sql` (from `user_select`) finds, or None."""
    return next(iter(get_user_model()._default_manager.raw(sql, params)), None)


class ModelBackend(backends.ModelBackend):
    """Django's ModelBackend, the session's user read by one raw statement."""

    def get_user(self, user_id: object) -> AbstractBaseUser | None:
        user = first_user(user_by_id_sql(), [user_id])
        return user if user is not None and self.user_can_authenticate(user) else None


@functools.cache
def user_by_id_sql() -> str:
    """SELECT the user whose primary key is %s."""
    from django.db import connection

    pk = get_user_model()._meta.pk
    return user_select(f"WHERE u.{connection.ops.quote_name(pk.column)} = %s")


class SessionStore(db.SessionStore):
    """Django's database sessions, a session read by one raw statement (writes unchanged)."""

    def load(self) -> dict:
        connection = connections[router.db_for_read(self.model)]
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(_session_sql(connection.alias), [self.session_key, now])
            row = cursor.fetchone()
        if row is None:  # unknown or expired, as Django's load()
            self._session_key = None
            return {}
        return self.decode(row[0])


@functools.cache
def _session_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    session = db.SessionStore.get_model_class()._meta
    return (
        f"SELECT {quote(session.get_field('session_data').column)}"  # noqa: S608
        f" FROM {quote(session.db_table)}"
        f" WHERE {quote(session.pk.column)} = %s"
        f" AND {quote(session.get_field('expire_date').column)} > %s"
    )
