"""`manage.py check_dcs` against the emulator: it logs in, lists a book, and fails in one
clear line (exit 1, no traceback) when DCS refuses the account, is unreachable or fails."""

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from local_servers import free_port
from tests import media
from tests.conftest import ROOT, server_env
from tests.factories import make_book

pytestmark = pytest.mark.wire


def check_dcs(dcs_base_url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check_dcs", *args],
        cwd=ROOT,
        env=server_env(dcs_base_url, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_fails_clearly(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert settings.DCS_PASSWORD not in result.stderr + result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("CommandError: "), result.stderr
    for word in words:
        assert word in last, last


def test_logs_in_and_lists_the_book_given(django_db_setup, dcs):
    result = check_dcs(dcs.base_url, f"{media.PUBLISHER}/{media.BOOK}")
    assert result.returncode == 0, result.stderr
    assert f"logged in as {settings.DCS_EMAIL}" in result.stdout
    assert f"files in {media.PUBLISHER}/{media.BOOK}" in result.stdout
    assert dcs.stats.logins == 1


def test_lists_the_first_book_in_the_database(db, dcs, capsys):
    book = make_book()
    with override_settings(DCS_BASE_URL=dcs.base_url):
        call_command("check_dcs")
        out = capsys.readouterr().out
        assert f"files in {media.PUBLISHER}/{media.BOOK}" in out
        call_command("check_dcs", str(book.pk))
    assert f"files in {media.PUBLISHER}/{media.BOOK}" in capsys.readouterr().out


def test_without_a_book_only_the_login_is_checked(db, dcs, capsys):
    with override_settings(DCS_BASE_URL=dcs.base_url):
        call_command("check_dcs")
    assert "only the login was checked" in capsys.readouterr().out


def test_wrong_password(django_db_setup, dcs):
    result = check_dcs(dcs.base_url, f"{media.PUBLISHER}/{media.BOOK}", DCS_PASSWORD="not-it")
    assert_fails_clearly(result, "DCS login failed", "HTTP 401")


def test_unreachable(django_db_setup):
    url = f"http://127.0.0.1:{free_port()}"
    result = check_dcs(url, f"{media.PUBLISHER}/{media.BOOK}", DCS_CONNECT_TIMEOUT="1")
    assert_fails_clearly(result, url, "DCS login failed", "ConnectionError")


def test_a_missing_book(django_db_setup, dcs):
    result = check_dcs(dcs.base_url, f"{media.PUBLISHER}/no-such-book")
    assert_fails_clearly(result, "lists no file in", "no-such-book")


class _Failing(BaseHTTPRequestHandler):
    def do_POST(self):
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "28")
        self.end_headers()
        self.wfile.write(b'{"detail": "down for a bit"}')

    do_GET = do_POST

    def log_message(self, *args):
        pass


def test_dcs_failing_with_5xx(django_db_setup):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = check_dcs(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
    assert_fails_clearly(result, "DCS login failed", "HTTP 503")
