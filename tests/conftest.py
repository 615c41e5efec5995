"""Fixtures shared by the suite: the DCS emulator, the LMS under gunicorn, tools, data."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

from local_servers import OFFLOAD_SECRET, free_port, redis_command, wait_for_port
from local_servers import stop_process as stop

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
(ROOT / "var").mkdir(exist_ok=True)


# Each suite's tally (cases tried, failures), printed at the end of the run.
_CASES: dict[str, list[int]] = {}
TALLY: dict[str, tuple[int, int]] = {}  # extra tallies a test records (generated cases)


def pytest_runtest_logreport(report) -> None:
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if report.when == "setup" and report.skipped:
            return
        counts = _CASES.setdefault(report.nodeid.split("::")[0], [0, 0])
        counts[0] += 1
        counts[1] += report.failed


def pytest_terminal_summary(terminalreporter) -> None:
    if not _CASES:
        return
    terminalreporter.section("tally: cases tried, failures")
    for suite, (tried, failed) in sorted(_CASES.items()):
        terminalreporter.write_line(f"{suite}: {tried} tried, {failed} failed")
    for name, (tried, failed) in sorted(TALLY.items()):
        terminalreporter.write_line(f"{name}: {tried} tried, {failed} failed")


def require_tool(name: str) -> str:
    """The tool's path; in CI a missing tool fails the test, on a laptop it skips it."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")
    if path:
        return path
    message = f"{name} is not installed (apt: see .ci/run)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def media_root(tmp_path_factory) -> Path:
    """The emulator's object store: test files plus the demo book."""
    from tests.media import build_media_root

    return build_media_root(tmp_path_factory.mktemp("dcs"))


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto's S3 in server mode, in this process, on a free port (DCS's object store)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def dcs_server(media_root, moto_endpoint):
    """The emulator, its object store in moto (for presigned reads); the LMS's account is
    a DCS admin unless a test says otherwise (`dcs.admin = False`)."""
    from dcs_emulator import run_in_thread

    emulator = run_in_thread(
        media_root,
        email=settings.DCS_EMAIL,
        password=settings.DCS_PASSWORD,
        s3_endpoint=moto_endpoint,
        s3_bucket="dcs",
    )
    yield emulator
    emulator.stop()


@pytest.fixture
def dcs(dcs_server):
    """The emulator, with faults off and counters at zero for this test."""
    dcs_server.reset()
    yield dcs_server
    dcs_server.reset()


@pytest.fixture
def in_process_lms(dcs, settings):
    """The media view in this process (Django's test client), DCS being the emulator; its
    client, breaker and responder are built from this test's settings."""
    from media_proxy.dcs import get_dcs_client
    from media_proxy.dcs.client import get_breaker
    from media_proxy.views import get_responder

    settings.DCS_BASE_URL = dcs.base_url
    built_from_settings = (get_breaker, get_dcs_client, get_responder)
    for made in built_from_settings:
        made.cache_clear()
    yield
    for made in built_from_settings:
        made.cache_clear()


class LMSServer:
    def __init__(
        self, base_url: str, log_path: Path, process: subprocess.Popen, offload: bool = False
    ) -> None:
        self.base_url = base_url
        self.log_path = log_path
        self.process = process
        self.offload = offload  # nginx in front, MEDIA_NGINX_OFFLOAD on

    def url(self, path: str) -> str:
        return self.base_url + path

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()


def database_url(name: str | None = None) -> str:
    """The test database (or database `name` on its server) as a DATABASE_URL, so the
    servers a test starts use the database the suite runs on: SQLite or PostgreSQL."""
    from django.db import connection

    db = connection.settings_dict
    name = name or db["NAME"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{name}"
    if connection.vendor != "postgresql":
        raise NotImplementedError(f"servers under test on {db['ENGINE']}")
    user, password = quote(db["USER"] or "", safe=""), quote(db["PASSWORD"] or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = str(db["HOST"] or "")
    host = quote(host, safe="") if host.startswith("/") else host  # a socket folder
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}{host}{port}/{quote(str(name), safe='')}"


def server_env(dcs_base_url: str, database_name: str | None = None, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "LMS_TESTING": "1",
        "DEBUG": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url(database_name),
        "DCS_BASE_URL": dcs_base_url,
        "DCS_EMAIL": settings.DCS_EMAIL,
        "DCS_PASSWORD": settings.DCS_PASSWORD,
        "DCS_READ_TIMEOUT": "2",
        "DCS_CONNECT_TIMEOUT": "1",
        "LOG_LEVEL": "INFO",
        "EMAIL_URL": "",  # password reset off, unless a test turns it on
        # Suites send thousands of requests as one user; the limits have their own server.
        "MEDIA_THROTTLE_RATE": "1000000/min",
        "AUTH_THROTTLE_RATE": "1000000/min",
        "MEDIA_MAX_STREAMS_PER_USER": "1000",
        # A test that makes the account a non-admin must not outlive its own requests.
        "DCS_PRESIGN_RETRY_AFTER": "1",
        # Fault tests fail DCS on purpose; the breaker has its own server (test_isolation).
        "DCS_BREAKER_FAILURES": "0",
        "MEDIA_OFFLOAD_SECRET": OFFLOAD_SECRET,  # what tests/nginx.py renders for nginx
        # Storm suites run hundreds of streams at once; the bulkhead has its own test.
        "MEDIA_MAX_CONCURRENT": "1000",
        **extra,
    }


def start_gunicorn(
    env: dict[str, str], log_path: Path, port: int | None = None, workers: int = 1
) -> LMSServer:
    port = port or free_port()
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "lms.wsgi",
            "--config",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, process)
    return LMSServer(f"http://127.0.0.1:{port}", log_path, process)


def lms_with(dcs_server, tmp_path_factory, name: str, workers: int = 1, **settings: str):
    """A gunicorn of the LMS with `settings` over the test ones, stopped when done
    (`yield from` it in a fixture)."""
    from django.db import connection

    env = server_env(dcs_server.base_url, connection.settings_dict["NAME"], **settings)
    server = start_gunicorn(env, tmp_path_factory.mktemp(name) / "gunicorn.log", workers=workers)
    yield server
    stop(server.process)


@pytest.fixture(scope="session")
def lms_server(django_db_setup, dcs_server, tmp_path_factory):
    """The LMS under gunicorn (GUNICORN_WORKER_CLASS: gevent unless set), on the test
    database, talking to the emulator."""
    yield from lms_with(dcs_server, tmp_path_factory, "lms")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real redis-server on a free port, for the shared cache of many workers."""
    redis_server = require_tool("redis-server")
    port = free_port()
    directory = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        redis_command(redis_server, port, directory), cwd=directory, stdout=subprocess.DEVNULL
    )
    wait_for_port(port, process)
    yield f"redis://127.0.0.1:{port}/0"
    stop(process)


def start_offload(
    directory: Path, env: dict[str, str], dcs_server, store: bool = False, workers: int = 1
):
    """nginx (the shipped template, with the LMS's time limits and stream cap from `env`,
    as render.py does in production) in front of a gunicorn in offload mode;
    `server.nginx` is nginx's process, `server.app_url` gunicorn itself."""
    from tests.nginx import start_nginx

    app = start_gunicorn(env, directory / "gunicorn.log", workers=workers)
    dcs_address = dcs_server.base_url.removeprefix("http://")
    store_address = dcs_server.store_url.removeprefix("http://") if store else ""
    try:
        nginx, port = start_nginx(
            directory, app.base_url.removeprefix("http://"), dcs_address, store_address, env
        )
    except BaseException:
        stop(app.process)
        raise
    server = LMSServer(f"http://127.0.0.1:{port}", app.log_path, app.process, offload=True)
    server.app_url = app.base_url
    server.nginx = nginx
    yield server
    stop(nginx)
    stop(app.process)


def offload_with(dcs_server, tmp_path_factory, name: str, workers: int = 1, **settings: str):
    """Offload mode (`start_offload`) with `settings` over the test ones, stopped when
    done (`yield from` it in a fixture)."""
    from django.db import connection

    env = server_env(
        dcs_server.base_url,
        connection.settings_dict["NAME"],
        MEDIA_NGINX_OFFLOAD="true",
        **settings,
    )
    yield from start_offload(tmp_path_factory.mktemp(name), env, dcs_server, workers=workers)


@pytest.fixture(scope="session")
def lms_offload_server(django_db_setup, dcs_server, tmp_path_factory):
    """nginx (the shipped template) in front of a second gunicorn in offload mode."""
    from django.db import connection

    env = server_env(
        dcs_server.base_url, connection.settings_dict["NAME"], MEDIA_NGINX_OFFLOAD="true"
    )
    yield from start_offload(tmp_path_factory.mktemp("nginx"), env, dcs_server)


@pytest.fixture(scope="session")
def lms_presigned_server(django_db_setup, dcs_server, tmp_path_factory):
    """The LMS reading every object from the store through presigned URLs (DCS_PRESIGNED)."""
    yield from lms_with(dcs_server, tmp_path_factory, "presigned", DCS_PRESIGNED="true")


@pytest.fixture(scope="session")
def lms_presigned_offload_server(django_db_setup, dcs_server, tmp_path_factory):
    """Offload mode with presigned reads: nginx fetches from the store (/_store_object)."""
    from django.db import connection

    env = server_env(
        dcs_server.base_url,
        connection.settings_dict["NAME"],
        MEDIA_NGINX_OFFLOAD="true",
        DCS_PRESIGNED="true",
        MEDIA_NGINX_STORE_ORIGIN=dcs_server.store_url,
    )
    yield from start_offload(tmp_path_factory.mktemp("nginx-presigned"), env, dcs_server, True)


@pytest.fixture
def lms(lms_server, transactional_db, dcs):
    """The running LMS for one test; data created in the test is committed, so it sees it."""
    return lms_server
