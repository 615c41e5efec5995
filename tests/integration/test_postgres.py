"""The LMS on PostgreSQL under gunicorn, with the shipped persistent connections
(CONN_MAX_AGE, CONN_HEALTH_CHECKS; under gevent, the pool and lms.postgresql's check):
connections outlive requests, and a restarted PostgreSQL leaves no broken connection
behind (the next requests all succeed)."""

import contextlib
import json
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import environ
import psycopg
import pytest
import requests
from django.db.utils import ConnectionHandler
from psycopg_pool import ConnectionPool

from lms.postgresql.base import went_away
from local_servers.postgres import postgres_bin, start_postgres
from tests import media
from tests.conftest import IN_CI, ROOT, server_env, start_gunicorn, stop

pytestmark = [pytest.mark.wire, pytest.mark.tools]

CLIENTS = 12
REQUESTS = 60

SEED = f"""
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from books.models import Book, BookAssignment, Publisher

publisher = Publisher.objects.create(name={media.PUBLISHER!r})
book = Book.objects.create(
    publisher=publisher, book_name={media.BOOK!r}, title="Postgres book", status="published"
)
user = get_user_model().objects.create_user(username="pg-student", password="pw-test-123")
BookAssignment.objects.create(book=book, user=user)
token = Token.objects.create(user=user).key
print("SEEDED " + json.dumps({{"book": str(book.pk), "token": token}}))
"""

# The access statement six times on one connection, then the statements PostgreSQL holds
# prepared for that connection (pg_prepared_statements is per session).
PREPARED = """
import json
from django.contrib.auth import get_user_model
from django.db import connection
from books.access import get_readable_book
from books.models import Book

user, book = get_user_model().objects.get(username="pg-student"), Book.objects.get()
for _ in range(6):
    assert get_readable_book(user, book.pk) == book
with connection.cursor() as cursor:
    cursor.execute("SELECT statement FROM pg_prepared_statements")
    print("PREPARED " + json.dumps([row[0] for row in cursor.fetchall()]))
"""


@pytest.fixture(scope="module")
def postgres():
    if postgres_bin("initdb") is None:
        message = "PostgreSQL is not installed (apt: postgresql; see .ci/run)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    server = start_postgres(max_connections=100)
    yield server
    server.remove()


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return result.stdout


@pytest.fixture(scope="module")
def on_postgres(postgres, dcs_server, tmp_path_factory):
    """gunicorn (2 workers, the shipped database settings) on a migrated, seeded PostgreSQL."""
    env = server_env(dcs_server.base_url, "unused", DATABASE_URL=postgres.url)
    for name in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
        env.pop(name, None)  # the shipped defaults
    manage(env, "migrate", "--no-input", "-v", "0")
    seeded = next(
        json.loads(line.removeprefix("SEEDED "))
        for line in manage(env, "shell", "-c", SEED).splitlines()
        if line.startswith("SEEDED ")
    )
    server = start_gunicorn(env, tmp_path_factory.mktemp("pg") / "gunicorn.log", workers=2)
    server.env = env
    yield server, seeded
    stop(server.process)


def lms_connections(postgres) -> int:
    return postgres.sql(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = 'lms' AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
    )[0][0]


def burst(server, seeded) -> list[int]:
    """REQUESTS requests from CLIENTS concurrent clients: /me and 1 KiB media ranges."""
    headers = {"Authorization": f"Bearer {seeded['token']}"}
    media_url = server.url(f"/api/v1/books/{seeded['book']}/media/data/random-1m.bin")

    def one(index: int) -> int:
        if index % 2:
            return requests.get(server.url("/api/v1/me"), headers=headers, timeout=10).status_code
        ranged = {**headers, "Range": f"bytes={index}-{index + 1023}"}
        return requests.get(media_url, headers=ranged, timeout=10).status_code

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return list(pool.map(one, range(REQUESTS)))


def expected() -> list[int]:
    return [206 if index % 2 == 0 else 200 for index in range(REQUESTS)]


def test_connections_outlive_requests_and_survive_a_postgres_restart(on_postgres, postgres):
    server, seeded = on_postgres
    assert burst(server, seeded) == expected()
    kept = lms_connections(postgres)
    assert kept >= 2, "persistent connections stay open between requests"

    postgres.restart()  # fast shutdown: every connection the workers hold is cut
    assert lms_connections(postgres) == 0

    assert burst(server, seeded) == expected()
    assert burst(server, seeded) == expected()
    assert lms_connections(postgres) >= 1, "the workers reconnected"
    log = "\n".join(server.log_lines())
    assert "Internal Server Error" not in log
    assert "OperationalError" not in log


def test_repeated_statements_are_prepared_once_per_connection(on_postgres):
    """Server-side binding with psycopg's prepared statements: the access statement is
    parsed and planned once per connection, not on every request (docs/benchmarks.md)."""
    server, _ = on_postgres
    printed = manage(server.env, "shell", "-c", PREPARED)
    prepared = json.loads(printed.split("PREPARED ", 1)[1])
    assert any("books_bookassignment" in statement for statement in prepared)
    with_it_off = {**server.env, "DATABASE_PREPARED_STATEMENTS": "false"}
    assert json.loads(manage(with_it_off, "shell", "-c", PREPARED).split("PREPARED ", 1)[1]) == []


@contextlib.contextmanager
def descriptors_in_use(count: int) -> Iterator[None]:
    """`count` more open files: what a gevent worker holding a thousand players has."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, count + 1024)), hard))
    opened = [os.open(os.devnull, os.O_RDONLY) for _ in range(count)]
    try:
        yield
    finally:
        for descriptor in opened:
            os.close(descriptor)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def asked(monkeypatch) -> list:
    """The connections lms.postgresql asked PostgreSQL about (`check_connection`)."""
    connections = []
    check = ConnectionPool.check_connection
    monkeypatch.setattr(
        ConnectionPool,
        "check_connection",
        staticmethod(lambda c: connections.append(c) or check(c)),
    )
    return connections


def test_the_pool_asks_postgres_only_about_a_connection_it_heard_from(postgres, asked):
    """lms.postgresql's pool check: no round trip for a healthy idle connection; a query,
    and the connection dropped, once its server went away. Its descriptor is past
    select()'s 1,023, as in a worker holding a thousand players."""
    with (
        descriptors_in_use(1100),
        psycopg.connect(postgres.url, autocommit=True) as connection,
    ):
        assert connection.fileno() > 1024
        connection.execute("SELECT 1")
        assert not went_away(connection)
        assert asked == []
        postgres.restart()
        assert went_away(connection)
        assert asked == [connection]
        assert connection.closed


def test_a_persistent_connection_is_asked_only_once_its_server_spoke(
    postgres, asked, monkeypatch, django_db_blocker
):
    """Without a pool (gthread), Django's CONN_HEALTH_CHECKS sends `SELECT 1` before each
    request's first query; lms.postgresql asks only a connection its server went away from."""
    sent = []
    execute = psycopg.Cursor.execute

    def sending(cursor, query, *args, **kwargs):
        sent.append(query)
        return execute(cursor, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", sending)
    database = environ.Env.db_url_config(postgres.url)
    database.update(ENGINE="lms.postgresql", CONN_MAX_AGE=300, CONN_HEALTH_CHECKS=True)
    handler = ConnectionHandler({"default": database})
    db = handler["default"]

    def request() -> int:
        db.close_if_unusable_or_obsolete()  # what Django does as each request starts and ends
        with db.cursor() as cursor:
            cursor.execute("SELECT 7")
            return cursor.fetchone()[0]

    with django_db_blocker.unblock():
        assert request() == 7
        first = db.connection
        sent.clear()
        assert (request(), db.connection, asked, sent) == (7, first, [], ["SELECT 7"])
        postgres.restart()
        assert (request(), asked) == (7, [first])
        assert first.closed
        assert db.connection is not first
        db.close()
