"""nginx keeps idle connections to gunicorn between requests, and gunicorn closes one
after GUNICORN_KEEPALIVE seconds. A request nginx sends on a connection just as
gunicorn closes it is reset, and nginx does not retry a POST: the client gets a 502 (a
link, a login, seen once in CI). The shipped template drops them at 80 % of gunicorn's
time (deploy/render.py), so nginx always closes first."""

import time
from urllib.parse import urlsplit

import psutil
import pytest
import requests

from tests.conftest import offload_with

pytestmark = [pytest.mark.wire, pytest.mark.tools]

KEEPALIVE = 2  # seconds, GUNICORN_KEEPALIVE


@pytest.fixture(scope="module")
def short_keepalive(django_db_setup, dcs_server, tmp_path_factory):
    yield from offload_with(
        dcs_server, tmp_path_factory, "keepalive", GUNICORN_KEEPALIVE=str(KEEPALIVE)
    )


def closed_first(port: int) -> set[tuple[str, int, int]]:
    """The connections to `port` now in TIME_WAIT, each with the side that closed it
    first ("server": the socket on `port`, else "client") and both ports."""
    waiting = set()
    for connection in psutil.net_connections("tcp"):
        if connection.status != psutil.CONN_TIME_WAIT or not connection.raddr:
            continue
        if connection.laddr.port == port:
            waiting.add(("server", connection.raddr.port, port))
        elif connection.raddr.port == port:
            waiting.add(("client", connection.laddr.port, port))
    return waiting


def test_nginx_closes_an_idle_connection_to_gunicorn_before_gunicorn_does(
    short_keepalive, transactional_db
):
    app_port = urlsplit(short_keepalive.app_url).port
    before = closed_first(app_port)
    with requests.Session() as client:  # one connection to nginx
        answers = [client.get(short_keepalive.url("/api/v1/me"), timeout=10) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [401] * 3  # each one Django's
    time.sleep(KEEPALIVE + 0.5)  # past both timeouts
    closed = closed_first(app_port) - before
    assert closed  # nginx's connection to gunicorn, idle, is gone
    assert {side for side, *_ in closed} == {"client"}  # and nginx closed it
