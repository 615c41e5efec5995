"""A request's database connections, given back before it stops querying."""

from django.db import connections


def give_back_connections() -> None:
    """Give this thread's database connections back now, not when the request ends: to
    the pool, or closed with CONN_MAX_AGE=0 (a persistent one stays with its thread). For
    a request done querying that may wait or stream for a while (a media request)."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
