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
from django.db import connection, connections, router
from django.utils import timezone

from lms.rows import ModelColumns


def user_select(joins_and_where: str) -> str:
    """SELECT every column of the user `u` (the user model's table), then `joins_and_where`."""
    table = connection.ops.quote_name(get_user_model()._meta.db_table)
    return f"SELECT {_user_columns(connection.vendor).sql} FROM {table} u {joins_and_where}"  # noqa: S608


def first_user(sql: str, params: list[object]) -> AbstractBaseUser | None:
    """The user the statement `sql` (from `user_select`) finds, or None."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else _user_columns(connection.vendor).instance(row, connection)


@functools.cache
def _user_columns(vendor: str) -> ModelColumns:
    return ModelColumns.of(get_user_model(), "u", connection)


class ModelBackend(backends.ModelBackend):
    """Django's ModelBackend, the session's user read by one raw statement."""

    def get_user(self, user_id: object) -> AbstractBaseUser | None:
        user = first_user(user_by_id_sql(), [user_id])
        return user if user is not None and self.user_can_authenticate(user) else None


@functools.cache
def user_by_id_sql() -> str:
    """SELECT the user whose primary key is %s."""
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
