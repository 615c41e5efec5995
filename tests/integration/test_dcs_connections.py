"""The DCS client against DCS's connection habits, over real sockets (docs/dcs.md).

The emulator, like DCS, closes a connection after 5 s idle and after every 304
and 500, without `Connection: close`. No caller may see an error for a
connection DCS closed: the pool drops idle connections before DCS does, and a
GET that fails on a reused connection before any response byte is sent again
once, on a new connection.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache

from media_proxy.dcs import DCSClient
from media_proxy.dcs import connections as dcs_connections
from tests import media

pytestmark = pytest.mark.wire

PATH = "data/hello.txt"


@pytest.fixture
def client(dcs):
    return DCSClient(
        dcs.base_url,
        settings.DCS_EMAIL,
        settings.DCS_PASSWORD,
        connect_timeout=2,
        read_timeout=5,
        pool_size=8,
        cache=LocMemCache("dcs-connections", {}),
    )


@pytest.fixture
def retries():
    """How many GETs were sent again during the test."""
    start = dcs_connections.stale_retries.value
    return lambda: dcs_connections.stale_retries.value - start


@pytest.fixture
def no_dropped_check(monkeypatch):
    """urllib3 notices a connection whose FIN already arrived; without that check every
    reuse of a closed connection reaches the retry, which is what these tests aim at."""
    monkeypatch.setattr("urllib3.connectionpool.is_connection_dropped", lambda conn: False)


def read(client: DCSClient, path: str = PATH) -> bytes:
    with client.get_object(media.PUBLISHER, media.BOOK, path) as upstream:
        return b"".join(upstream.iter_body(65536))


def raw_get(client: DCSClient, path: str, **headers: str) -> int:
    """A GET on the client's pool that the client itself would not send; its status."""
    url = f"{client.base_url}/storage/books/{media.PUBLISHER}/{media.BOOK}/object"
    headers["Authorization"] = client.authorization()
    response = client.session.get(url, params={"path": path}, headers=headers, timeout=5)
    response.close()
    return response.status_code


def dcs_500(client: DCSClient) -> None:
    """A 500 from DCS (a basename outside Latin-1), after which DCS closes the connection."""
    assert raw_get(client, "Ünite 2/şarkı.mp3") == 500


def dcs_304(client: DCSClient, dcs) -> None:
    """A 304 (the LMS never asks conditionally), after which DCS closes the connection."""
    etag = dcs_etag(client)
    assert raw_get(client, PATH, **{"If-None-Match": etag}) == 304


def dcs_etag(client: DCSClient) -> str:
    with client.get_object(media.PUBLISHER, media.BOOK, PATH) as upstream:
        upstream.release()
        return upstream.headers["ETag"]


def test_a_request_right_after_a_500_is_served(client, dcs, retries, no_dropped_check):
    expected = media.file_bytes(PATH)
    for _ in range(32):
        dcs_500(client)
        assert read(client) == expected
    assert dcs.stats.closes_after_500 == 32
    assert retries() == 32  # each next GET met the closed connection, and was sent again


def test_a_request_right_after_a_304_is_served(client, dcs, retries, no_dropped_check):
    dcs_304(client, dcs)
    assert read(client) == media.file_bytes(PATH)
    assert dcs.stats.closes_after_304 >= 1
    assert retries() == 1


def test_requests_6_s_apart_are_served_on_a_new_connection(client, dcs, retries):
    assert read(client) == media.file_bytes(PATH)
    time.sleep(6)  # past DCS's 5 s idle close
    dcs.stats.reset()
    assert read(client) == media.file_bytes(PATH)
    assert dcs.stats.connections_opened == 1
    assert retries() == 0  # dropped by the pool before DCS closed it: no failed attempt


def test_an_idle_connection_the_pool_still_trusts_is_retried(
    client, dcs, retries, no_dropped_check, monkeypatch
):
    monkeypatch.setattr(dcs_connections, "IDLE_LIMIT", 3600.0)
    read(client)
    time.sleep(6)
    assert read(client) == media.file_bytes(PATH)
    assert retries() == 1


def test_no_errors_under_concurrency_around_500s_and_304s(client, dcs, no_dropped_check):
    expected = media.file_bytes(PATH)

    def round_(i: int) -> bytes:
        if i % 3 == 0:
            dcs_500(client)
        elif i % 3 == 1:
            dcs_304(client, dcs)
        return read(client)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(round_, range(96)))
    assert results == [expected] * 96
