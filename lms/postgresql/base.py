"""Django's PostgreSQL backend, whose health checks cost no round trip to a healthy
server.

CONN_HEALTH_CHECKS costs a round trip per request: Django gives psycopg_pool its
`check_connection` (an empty query on every checkout) and, without a pool (gthread
workers), sends `SELECT 1` before each request's first query. Under load that cost
a worker as much CPU as the request's own statement (py-spy: 10 % of
`/api/v1/me`). A connection between requests is idle: PostgreSQL sends it nothing
unless it is going away (a restart, an idle or administrator timeout: an error
message, then the end of the stream). So its socket is asked first, without
waiting, and the query goes out only when something is there to read.

`lms.settings` selects this backend for PostgreSQL and, with a pool, turns Django's
check off and the pool's on (`POOL_CHECKS`).
"""

from __future__ import annotations

import select
from typing import Any

from django.db.backends.postgresql import base
from gevent import monkey
from psycopg_pool import ConnectionPool


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        """Django's check of a persistent connection (CONN_HEALTH_CHECKS, no pool)."""
        return self.connection is not None and not went_away(self.connection)

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        if self.pool is None or not self.settings_dict.get("POOL_CHECKS"):
            return connection
        while went_away(connection):
            self.pool.putconn(connection)  # closed: the pool drops it
            connection = super().get_new_connection(conn_params)
        return connection


# The system's poll, not gevent's (which always waits for its hub, even for a look
# that does not wait); not select(), which fails on descriptors past 1,023, as a
# gevent worker holding a thousand players has.
_poll = monkey.get_original("select", "poll")


def went_away(connection: Any) -> bool:
    """An idle connection with something to read is asked whether its server is there."""
    poller = _poll()
    poller.register(connection.fileno(), select.POLLIN)
    if not poller.poll(0):
        return False
    try:
        ConnectionPool.check_connection(connection)
    except Exception:
        connection.close()
        return True
    return False
