"""Redis down or hung: the LMS goes on without it (lms.cache), on a real redis-server
that the tests stop, pause and start again under a running gunicorn."""

import os
import signal
import subprocess
import time

import pytest
import redis
import requests

from local_servers import free_port, redis_command, wait_for_port
from local_servers import stop_process as stop
from tests import media
from tests.conftest import lms_with, require_tool
from tests.factories import bearer, student_with_book
from tests.wire import eventually, media_path

pytestmark = [pytest.mark.wire, pytest.mark.tools]

SOURCE = media.file_bytes("data/random-1m.bin")


class RedisServer:
    def __init__(self, directory) -> None:
        self.binary = require_tool("redis-server")
        self.port = free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            redis_command(self.binary, self.port, self.directory),
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        stop(self.process)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis-outage"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def lms_on_redis(django_db_setup, dcs_server, shared_cache, tmp_path_factory):
    yield from lms_with(dcs_server, tmp_path_factory, "redis-outage", CACHE_URL=shared_cache.url)


def seek(server, user, book, offset: int) -> requests.Response:
    headers = {**bearer(user), "Range": f"bytes={offset}-{offset + 999}"}
    return requests.get(
        server.url(media_path(book, "data/random-1m.bin")), headers=headers, timeout=10
    )


def served(response: requests.Response, offset: int) -> bool:
    return response.status_code == 206 and response.content == SOURCE[offset : offset + 1000]


@pytest.mark.django_db(transaction=True)
def test_media_goes_on_while_redis_is_down_and_counts_again_when_it_is_back(
    lms_on_redis, shared_cache, dcs
):
    user, book = student_with_book()
    assert served(seek(lms_on_redis, user, book, 0), 0)

    shared_cache.stop()
    for offset in (1000, 50_000, 900_000):
        assert served(seek(lms_on_redis, user, book, offset), offset)
    me = requests.get(lms_on_redis.url("/api/v1/me"), headers=bearer(user), timeout=10)
    assert me.status_code == 200
    log = "\n".join(lms_on_redis.log_lines())
    assert log.count("Redis is unreachable") == 1  # once, not per request
    assert "Internal Server Error" not in log

    shared_cache.start()  # empty: a restarted Redis lost its counters
    counters = redis.Redis.from_url(shared_cache.url)
    assert eventually(
        lambda: (
            served(seek(lms_on_redis, user, book, 7000), 7000)
            and any(b"media" in key for key in counters.keys("*"))
        ),
        within=10,
        every=0.2,
    ), "after its outage the LMS counts in Redis again"


@pytest.mark.django_db(transaction=True)
def test_a_hung_redis_costs_a_seek_about_its_socket_timeout(lms_on_redis, shared_cache, dcs):
    user, book = student_with_book()
    assert served(seek(lms_on_redis, user, book, 0), 0)
    os.kill(shared_cache.process.pid, signal.SIGSTOP)  # accepts, answers nothing
    try:
        started = time.monotonic()
        assert served(seek(lms_on_redis, user, book, 2000), 2000)
        # CACHE_SOCKET_TIMEOUT (1 s, as shipped) once; then a second without asking Redis.
        assert time.monotonic() - started < 3
        started = time.monotonic()
        assert served(seek(lms_on_redis, user, book, 3000), 3000)
        assert time.monotonic() - started < 1
    finally:
        os.kill(shared_cache.process.pid, signal.SIGCONT)
