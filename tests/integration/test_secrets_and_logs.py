"""Secrets stay secret, every media response is private, and each stream leaves one
structured log line."""

import json
import os
import subprocess
import sys

import pytest
import requests
from django.conf import settings

from lms.settings import throttle_rate
from tests import media
from tests.conftest import ROOT
from tests.factories import bearer, session_cookie, student_with_book
from tests.wire import fetch_raw, media_path

pytestmark = pytest.mark.wire

FILE = "data/random-300k.bin"
SOURCE = media.file_bytes(FILE)


def stream_records(lms, since: int) -> list[dict]:
    return [
        json.loads(line.split("media_stream ", 1)[1])
        for line in lms.log_lines()[since:]
        if "media_stream " in line
    ]


def test_dcs_token_and_password_never_reach_a_client_or_a_log(lms, dcs):
    user, book = student_with_book()
    headers = bearer(user)
    seen: list[bytes] = []

    def call(path=FILE, extra=None):
        response = fetch_raw(lms, "GET", media_path(book, path), {**headers, **(extra or {})})
        seen.append(str(response.headers).encode() + response.body)

    call(extra={"Range": "bytes=0-99"})
    dcs.expire_tokens()  # a re-login, and its log lines
    call(extra={"Range": "bytes=100-199"})
    dcs.faults.status = 500
    call()  # an error page
    dcs.faults.status = None
    call("missing.mp3")
    dcs.faults.wrong_content_range = True
    call(extra={"Range": "bytes=0-9"})

    tokens = {
        record.headers["Authorization"].removeprefix("Bearer ")
        for record in dcs.stats.requests
        if "Authorization" in record.headers
    }
    assert tokens, "the LMS authenticated to DCS"
    secrets = [settings.DCS_PASSWORD, *tokens]
    log = "\n".join(lms.log_lines())
    for secret in secrets:
        assert secret not in log
        assert all(secret.encode() not in answer for answer in seen)


def test_client_credentials_are_not_forwarded(lms, dcs):
    user, book = student_with_book()
    requests.get(
        lms.url(media_path(book, FILE)),
        cookies=session_cookie(user),
        headers={"Range": "bytes=0-9"},
        timeout=10,
    )
    requests.get(lms.url(media_path(book, FILE)), headers=bearer(user), timeout=10)
    for record in dcs.stats.requests:
        assert "Cookie" not in record.headers
        assert record.headers.get("Authorization") != bearer(user)["Authorization"]


@pytest.mark.parametrize(
    "extra",
    [{}, {"Range": "bytes=0-9"}, {"Range": "bytes=0-9,20-29"}, {"Range": "bytes=999999-"}],
    ids=["200", "206", "206 multipart", "416"],
)
def test_every_media_response_is_private(lms, extra):
    user, book = student_with_book()
    response = fetch_raw(lms, "GET", media_path(book, FILE), {**bearer(user), **extra})
    assert response.headers["Cache-Control"] == "private, max-age=86400"
    assert response.headers["Vary"] == "Cookie, Authorization"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "public" not in response.headers["Cache-Control"]


def test_one_log_line_per_stream(lms, dcs):
    user, book = student_with_book()
    since = len(lms.log_lines())
    done = fetch_raw(lms, "GET", media_path(book, FILE), {**bearer(user), "Range": "bytes=10-1009"})
    assert done.status == 206
    dcs.faults.cut_after_bytes = 5000
    cut = fetch_raw(lms, "GET", media_path(book, FILE), bearer(user))
    assert not cut.complete
    dcs.faults.cut_after_bytes = None
    head = fetch_raw(lms, "HEAD", media_path(book, FILE), bearer(user))
    assert head.status == 200

    records = stream_records(lms, since)
    assert len(records) == 3
    complete, failed, headers_only = records
    assert complete == {
        **complete,
        "user": user.pk,
        "book": str(book.pk),
        "path": FILE,
        "method": "GET",
        "range": "bytes=10-1009",
        "status": 206,
        "bytes_sent": 1000,
        "upstream_status": 206,
        "outcome": "complete",
        "client_aborted": False,
    }
    assert complete["upstream_ttfb_ms"] >= 0
    assert complete["duration_ms"] >= complete["upstream_ttfb_ms"]
    assert failed["outcome"] == "upstream_failed"
    assert failed["bytes_sent"] <= 5000
    assert (headers_only["method"], headers_only["status"], headers_only["bytes_sent"]) == (
        "HEAD",
        200,
        0,
    )


def test_production_settings_pass_check_deploy():
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "a-long-random-production-secret-key-" + "x" * 40,
        "ALLOWED_HOSTS": "lms.example.org",
    }
    env.pop("LMS_TESTING", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": ""}
    env.pop("LMS_TESTING", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("server", ["lms_presigned_server", "lms_presigned_offload_server"])
def test_presigned_urls_never_reach_a_client_or_a_log(request, transactional_db, dcs, server):
    lms = request.getfixturevalue(server)
    user, book = student_with_book()
    seen: list[bytes] = []
    for path, extra in [
        (FILE, {"Range": "bytes=0-99"}),
        (FILE, None),
        (FILE, {"Range": "bytes=999999999-"}),  # a 416
        ("Ünite 2/şarkı.mp3", {"Range": "bytes=1-"}),
        ("missing.mp3", None),  # DCS's 404 to the presign request
    ]:
        response = fetch_raw(lms, "GET", media_path(book, path), {**bearer(user), **(extra or {})})
        seen.append(str(response.headers).encode() + response.body)
    assert dcs.stats.presigned_requests >= 1
    assert dcs.store_stats.request_count >= 2
    logs = [lms.log_path, *lms.log_path.parent.glob("*.log")]
    text = "\n".join(p.read_text(errors="replace") for p in logs)
    for secret in ("X-Amz-Signature", "X-Amz-Credential", dcs.store_url):
        assert secret not in text
        assert all(secret.encode() not in answer for answer in seen)
    assert not any(b"x-store-path" in answer.lower() for answer in seen)


def test_metrics_are_for_this_host_only(lms_server, lms_offload_server):
    assert fetch_raw(lms_server, "GET", "/metrics", {}).status == 200  # loopback
    assert fetch_raw(lms_offload_server, "GET", "/metrics", {}).status == 403  # via nginx


@pytest.mark.parametrize("forged", [None, "wrong-secret", ""])
def test_a_request_that_bypasses_nginx_never_gets_the_dcs_token(
    lms_offload_server, transactional_db, dcs, forged
):
    """Offload mode, but gunicorn reached directly (a wrong bind, a misrouted load
    balancer): the bytes are streamed, no X-Accel-Redirect, no DCS token."""
    user, book = student_with_book()
    headers = {**bearer(user), "Range": "bytes=0-99"}
    if forged is not None:
        headers["X-Media-Offload-Secret"] = forged
    direct = requests.get(
        lms_offload_server.app_url + media_path(book, FILE), headers=headers, timeout=10
    )
    assert direct.status_code == 206
    assert direct.content == SOURCE[:100]
    for name in direct.headers:
        assert not name.lower().startswith(("x-accel", "x-dcs", "x-store", "x-media"))
    since = len(lms_offload_server.log_lines())
    through_nginx = fetch_raw(lms_offload_server, "GET", media_path(book, FILE), headers)
    assert through_nginx.status == 206
    assert through_nginx.body == SOURCE[:100]
    assert "X-Dcs-Authorization" not in through_nginx.headers
    outcomes = [record["outcome"] for record in stream_records(lms_offload_server, since)]
    assert outcomes[-1] == "offloaded", outcomes  # nginx's secret matched: nginx moved the bytes


def test_offload_mode_refuses_to_start_without_a_secret():
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "x" * 50,
        "MEDIA_NGINX_OFFLOAD": "true",
        "MEDIA_OFFLOAD_SECRET": "",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "MEDIA_OFFLOAD_SECRET" in result.stderr


@pytest.mark.parametrize("rate", ["", "1200", "many/min", "1200/week"])
def test_a_malformed_throttle_rate_stops_startup(rate):
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": "x" * 50, "MEDIA_THROTTLE_RATE": rate}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "MEDIA_THROTTLE_RATE must be a rate such as 1200/min, or off" in result.stderr


@pytest.mark.parametrize(
    ("rate", "setting"), [("off", None), (" 30/min ", "30/min"), ("2/s", "2/s")]
)
def test_a_throttle_rate_or_off(monkeypatch, rate, setting):
    monkeypatch.setenv("MEDIA_THROTTLE_RATE", rate)
    assert throttle_rate("MEDIA_THROTTLE_RATE", "1200/min") == setting
