"""GET /storage/books/{publisher}/{book}/presigned, backed by moto's S3 in server mode."""

from __future__ import annotations

import calendar
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.credentials import Credentials

from dcs_emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, Emulator, run_in_thread
from dcs_emulator.app import ADMIN_REQUIRED
from dcs_emulator.s3 import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, check_presigned

from .conftest import BIG, ELEVEN, LARGE_FILES, login, md5, multipart_etag, object_url

pytestmark = pytest.mark.wire

REPO = Path(__file__).resolve().parents[2]


def presigned_url(emu: Emulator, publisher: str = "Pub", book: str = "Book") -> str:
    return f"{emu.base_url}/storage/books/{publisher}/{book}/presigned"


@pytest.fixture
def admin(s3_emu: Emulator) -> dict[str, str]:
    token = login(s3_emu)
    s3_emu.stats.reset()
    return {"Authorization": f"Bearer {token}"}


def presign(
    emu: Emulator, headers: dict[str, str], path: str, book: str = "Book", **params: object
) -> str:
    response = requests.get(
        presigned_url(emu, "Pub", book),
        params={"path": path, **params},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["url"]


# --- the answer ---------------------------------------------------------------


def test_an_admin_gets_a_sigv4_url_on_the_store(
    s3_emu: Emulator, admin: dict[str, str], http: requests.Session
) -> None:
    response = http.get(presigned_url(s3_emu), params={"path": "eleven.mp3"}, headers=admin)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"url", "expires_in"}
    assert body["expires_in"] == 3600  # the default
    assert s3_emu.store_url is not None
    url = urlsplit(body["url"])
    assert f"{url.scheme}://{url.netloc}" == s3_emu.store_url  # the external endpoint
    assert url.path == "/books/Pub/books/Book/eleven.mp3"  # bucket, then the object key
    query = parse_qs(url.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["3600"]
    assert query["X-Amz-SignedHeaders"] == ["host"]
    assert s3_emu.stats.presigned_requests == 1


def test_the_url_serves_the_object_from_the_store(
    s3_emu: Emulator, admin: dict[str, str], http: requests.Session
) -> None:
    url = presign(s3_emu, admin, "eleven.mp3")
    response = http.get(url)  # no Authorization: the URL is the credential
    assert response.status_code == 200
    assert response.content == ELEVEN
    assert response.headers["ETag"] == f'"{md5(ELEVEN)}"'  # the same ETag as DCS gives
    assert "Last-Modified" in response.headers
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Type"] == "application/octet-stream"  # the stored type
    assert "Content-Disposition" not in response.headers
    (record,) = s3_emu.store_stats.requests
    assert (record.status, record.bytes_sent) == (200, 11)
    stats = requests.get(f"{s3_emu.base_url}/_emulator/stats", timeout=5).json()
    assert (stats["presigned_requests"], stats["store"]["requests"]) == (1, 1)


def test_the_url_works_for_its_whole_lifetime_not_only_the_second_it_was_signed(
    s3_emu: Emulator, admin: dict[str, str], http: requests.Session
) -> None:
    url = presign(s3_emu, admin, "eleven.mp3", expires=60)
    time.sleep(1.5)
    assert http.get(url).content == ELEVEN


@pytest.mark.parametrize(
    ("range_header", "content_range", "expected"),
    [
        ("bytes=2-5", "bytes 2-5/11", ELEVEN[2:6]),
        ("bytes=5-999999", "bytes 5-10/11", ELEVEN[5:]),  # the end is clamped, unlike DCS
        ("bytes=0-10", "bytes 0-10/11", ELEVEN),
        ("bytes=4-", "bytes 4-10/11", ELEVEN[4:]),
        ("bytes=-3", "bytes 8-10/11", ELEVEN[8:]),
    ],
)
def test_the_url_serves_single_ranges(
    s3_emu: Emulator,
    admin: dict[str, str],
    http: requests.Session,
    range_header: str,
    content_range: str,
    expected: bytes,
) -> None:
    response = http.get(presign(s3_emu, admin, "eleven.mp3"), headers={"Range": range_header})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == content_range
    assert response.content == expected


def test_a_range_past_the_end_is_the_stores_416(
    s3_emu: Emulator, admin: dict[str, str], http: requests.Session
) -> None:
    response = http.get(presign(s3_emu, admin, "eleven.mp3"), headers={"Range": "bytes=11-"})
    assert response.status_code == 416
    assert b"InvalidRange" in response.content


def test_large_objects_carry_the_same_part_style_etag_as_dcs(
    s3_emu: Emulator, admin: dict[str, str], http: requests.Session
) -> None:
    data = LARGE_FILES["over8.bin"]
    dcs = http.get(
        object_url(s3_emu, "Pub", "Large"),
        params={"path": "over8.bin"},
        headers={**admin, "Range": "bytes=0-0"},
    )
    response = http.get(
        presign(s3_emu, admin, "over8.bin", book="Large"),
        headers={"Range": "bytes=8388600-8388608"},
    )
    assert response.status_code == 206
    assert response.content == data[8388600:]
    assert response.headers["ETag"] == dcs.headers["ETag"] == f'"{multipart_etag(data)}"'


def test_non_latin1_basenames_work_through_the_url(
    s3_emu: Emulator, admin: dict[str, str], http: requests.Session
) -> None:
    path = "Ünite 1/şarkı.mp3"
    dcs = http.get(object_url(s3_emu), params={"path": path}, headers=admin)
    assert dcs.status_code == 500  # what DCS itself answers
    url = presign(s3_emu, admin, path)
    assert "/books/Pub/books/Book/%C3%9Cnite%201/%C5%9Fark%C4%B1.mp3?" in url
    response = requests.get(url, headers={"Range": "bytes=0-2"}, timeout=5)
    assert response.status_code == 206
    assert response.content == b"not"


def test_the_store_keeps_connections_alive(
    s3_emu: Emulator, admin: dict[str, str], http: requests.Session
) -> None:
    url = presign(s3_emu, admin, "big.bin")
    for start in (0, 1000, 150_000):
        response = http.get(url, headers={"Range": f"bytes={start}-{start + 999}"})
        assert response.content == BIG[start : start + 1000]
    assert s3_emu.store_stats.connections_opened == 1


def test_a_changed_file_is_uploaded_again(
    s3_emu: Emulator, admin: dict[str, str], dcs_root: Path
) -> None:
    target = dcs_root / "Pub" / "books" / "Book" / "changing.bin"
    target.write_bytes(b"first version")
    first = requests.get(presign(s3_emu, admin, "changing.bin"), timeout=5)
    assert first.content == b"first version"
    target.write_bytes(b"second, longer version")
    second = requests.get(presign(s3_emu, admin, "changing.bin"), timeout=5)
    assert second.content == b"second, longer version"
    assert second.headers["ETag"] == f'"{md5(b"second, longer version")}"'


def test_the_folder_is_uploaded_at_start(session_s3_emu: Emulator, moto_endpoint: str) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
    )
    keys = {
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket="books")
        for item in page.get("Contents", [])
    }
    assert {"Pub/books/Book/eleven.mp3", "Pub/books/Tree/a/b/c.txt"} <= keys
    assert "Pub/books/Book/Ünite 1/şarkı.mp3" in keys
    head = client.head_object(Bucket="books", Key="Pub/books/Large/over5.bin")
    assert head["ETag"] == f'"{multipart_etag(LARGE_FILES["over5.bin"])}"'
    assert head["ContentType"] == "application/octet-stream"


# --- what the store refuses ---------------------------------------------------


def test_head_with_the_url_is_refused(s3_emu: Emulator, admin: dict[str, str]) -> None:
    url = presign(s3_emu, admin, "eleven.mp3")
    response = requests.head(url, timeout=5)
    assert response.status_code == 403  # the signature covers the method
    assert response.content == b""
    assert requests.get(url, timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (lambda url: url.replace("eleven.mp3", "empty.mp3"), "SignatureDoesNotMatch"),
        (
            lambda url: url.replace("X-Amz-Expires=3600", "X-Amz-Expires=3601"),
            "SignatureDoesNotMatch",
        ),
        (lambda url: url + "&response-content-type=text/html", "SignatureDoesNotMatch"),
        (lambda url: url.split("?")[0], "AccessDenied"),
        (
            lambda url: re.sub(r"X-Amz-Credential=[^%]+", "X-Amz-Credential=other", url),
            "InvalidAccessKeyId",
        ),
    ],
)
def test_an_edited_url_is_refused(
    s3_emu: Emulator, admin: dict[str, str], edit: object, code: str
) -> None:
    url = edit(presign(s3_emu, admin, "eleven.mp3"))  # type: ignore[operator]
    response = requests.get(url, timeout=5)
    assert response.status_code == 403
    assert f"<Code>{code}</Code>".encode() in response.content
    assert response.headers["Content-Type"] == "application/xml"


def test_an_expired_url_is_refused(s3_emu: Emulator) -> None:
    """DCS never signs for less than 60 s: sign a 1-second URL with the emulator's signer."""
    assert s3_emu.mirror is not None
    info = s3_emu.app.store.head("Pub/books/Book/eleven.mp3")
    url = s3_emu.mirror.presign(info, 1)
    x_amz_date = parse_qs(urlsplit(url).query)["X-Amz-Date"][0]
    signed_at = calendar.timegm(time.strptime(x_amz_date, "%Y%m%dT%H%M%SZ"))
    assert requests.get(url, timeout=5).status_code == 200
    time.sleep(max(0.0, signed_at + 1.05 - time.time()))
    expired = requests.get(url, timeout=5)
    assert expired.status_code == 403
    assert b"Request has expired" in expired.content


# --- who may ask, and the query -------------------------------------------------


def test_a_non_admin_account_gets_403(
    s3_emu: Emulator, admin: dict[str, str], http: requests.Session
) -> None:
    s3_emu.admin = False  # the same account, now without the role (reset() restores it)
    response = http.get(presigned_url(s3_emu), params={"path": "eleven.mp3"}, headers=admin)
    assert response.status_code == 403
    assert response.json() == {"detail": ADMIN_REQUIRED}
    # the role is checked before the query: no 422 for a non-admin either
    assert http.get(presigned_url(s3_emu), headers=admin).status_code == 403
    # and the token still reads objects
    assert http.get(object_url(s3_emu), params={"path": "eleven.mp3"}, headers=admin).ok
    s3_emu.reset()
    assert s3_emu.admin is True


def test_the_account_can_be_configured_as_non_admin(dcs_root: Path) -> None:
    with run_in_thread(dcs_root, admin=False) as emulator:
        assert emulator.admin is False
        token = login(emulator)
        response = requests.get(
            presigned_url(emulator),
            params={"path": "eleven.mp3"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        assert response.status_code == 403


@pytest.mark.parametrize(
    ("headers", "status", "detail"),
    [
        ({}, 403, "Not authenticated"),
        ({"Authorization": "Basic abc"}, 403, "Invalid authentication credentials"),
        ({"Authorization": "Bearer nope"}, 401, "Invalid token"),
    ],
)
def test_bearer_rules_come_first(
    s3_emu: Emulator, headers: dict[str, str], status: int, detail: str
) -> None:
    response = requests.get(presigned_url(s3_emu), headers=headers, timeout=5)
    assert response.status_code == status
    assert response.json() == {"detail": detail}


def test_missing_objects_are_404(s3_emu: Emulator, admin: dict[str, str]) -> None:
    for book, path in (("Book", "nope.mp3"), ("Book", "subs"), ("NoBook", "eleven.mp3")):
        response = requests.get(
            presigned_url(s3_emu, "Pub", book), params={"path": path}, headers=admin, timeout=5
        )
        assert response.status_code == 404
        assert response.json() == {"detail": "File not found"}


def test_path_rules_are_the_object_endpoints(s3_emu: Emulator, admin: dict[str, str]) -> None:
    response = requests.get(
        presigned_url(s3_emu), params={"path": "../Tree/config.json"}, headers=admin, timeout=5
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "path must not traverse directories"}
    assert (
        presign(s3_emu, admin, " ./subs//lesson.vtt ")
        .split("?")[0]
        .endswith("/Pub/books/Book/subs/lesson.vtt")
    )


@pytest.mark.parametrize("expires", ["60", "86400", "600"])
def test_expires_within_bounds(s3_emu: Emulator, admin: dict[str, str], expires: str) -> None:
    response = requests.get(
        presigned_url(s3_emu),
        params={"path": "eleven.mp3", "expires": expires},
        headers=admin,
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json()["expires_in"] == int(expires)
    assert parse_qs(urlsplit(response.json()["url"]).query)["X-Amz-Expires"] == [expires]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        (
            {"path": "eleven.mp3", "expires": "59"},
            [
                {
                    "type": "greater_than_equal",
                    "loc": ["query", "expires"],
                    "msg": "Input should be greater than or equal to 60",
                    "input": "59",
                    "ctx": {"ge": 60},
                }
            ],
        ),
        (
            {"path": "eleven.mp3", "expires": "86401"},
            [
                {
                    "type": "less_than_equal",
                    "loc": ["query", "expires"],
                    "msg": "Input should be less than or equal to 86400",
                    "input": "86401",
                    "ctx": {"le": 86400},
                }
            ],
        ),
        (
            {"expires": "1.5"},
            [
                {
                    "type": "missing",
                    "loc": ["query", "path"],
                    "msg": "Field required",
                    "input": None,
                },
                {
                    "type": "int_parsing",
                    "loc": ["query", "expires"],
                    "msg": "Input should be a valid integer, unable to parse string as an integer",
                    "input": "1.5",
                },
            ],
        ),
    ],
)
def test_query_validation_is_fastapis_422(
    s3_emu: Emulator, admin: dict[str, str], params: dict[str, str], detail: list
) -> None:
    response = requests.get(presigned_url(s3_emu), params=params, headers=admin, timeout=5)
    assert response.status_code == 422
    assert response.json() == {"detail": detail}


def test_only_get(s3_emu: Emulator, admin: dict[str, str]) -> None:
    for method in ("HEAD", "POST"):
        response = requests.request(
            method, presigned_url(s3_emu), params={"path": "eleven.mp3"}, headers=admin, timeout=5
        )
        assert response.status_code == 405
        assert response.headers["Allow"] == "GET"


def test_without_an_s3_endpoint_the_answer_is_502(emu: Emulator, auth: dict[str, str]) -> None:
    assert emu.store_url is None
    response = requests.get(
        presigned_url(emu), params={"path": "eleven.mp3"}, headers=auth, timeout=5
    )
    assert response.status_code == 502
    assert response.json() == {"detail": "Unable to verify object"}


def test_store_down_is_a_slow_500_here_too(s3_emu: Emulator, admin: dict[str, str]) -> None:
    s3_emu.faults.store_down, s3_emu.faults.store_down_delay = True, 0.3
    started = time.monotonic()
    response = requests.get(
        presigned_url(s3_emu), params={"path": "eleven.mp3"}, headers=admin, timeout=5
    )
    assert time.monotonic() - started >= 0.25
    assert (response.status_code, response.text) == (500, "Internal Server Error")


# --- the gateway's signature check, without sockets ------------------------------


def test_check_presigned_table() -> None:
    signer = boto3.client(
        "s3",
        endpoint_url="http://store.test:9000",
        region_name="us-east-1",
        aws_access_key_id=DEFAULT_ACCESS_KEY,
        aws_secret_access_key=DEFAULT_SECRET_KEY,
        config=boto3.session.Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    url = urlsplit(
        signer.generate_presigned_url(
            "get_object", Params={"Bucket": "b", "Key": "P/books/B/ş ı+ğ.mp3"}, ExpiresIn=60
        )
    )
    credentials = Credentials(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY)

    def check(method: str = "GET", host: str = url.netloc, now: float | None = None) -> object:
        return check_presigned(method, host, url.path, url.query, credentials, now)

    assert check() is None
    assert check("HEAD")[1] == "SignatureDoesNotMatch"  # type: ignore[index]
    assert check(host="other:9000")[1] == "SignatureDoesNotMatch"  # type: ignore[index]
    assert check(now=time.time() + 62)[1:] == ("AccessDenied", "Request has expired")  # type: ignore[index]
    wrong_key = Credentials(DEFAULT_ACCESS_KEY, "another secret")
    assert check_presigned("GET", url.netloc, url.path, url.query, wrong_key)[1] == (  # type: ignore[index]
        "SignatureDoesNotMatch"
    )
    assert check_presigned("GET", url.netloc, url.path, "", credentials)[:2] == (
        403,
        "AccessDenied",
    )  # type: ignore[index]


# --- the CLI ------------------------------------------------------------------------


def test_cli_with_an_s3_endpoint(tmp_path: Path, moto_endpoint: str) -> None:
    (tmp_path / "Pub" / "books" / "Cli").mkdir(parents=True)
    (tmp_path / "Pub" / "books" / "Cli" / "a.mp3").write_bytes(b"cli")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dcs_emulator",
            "--root",
            str(tmp_path),
            "--port",
            "0",
            "--s3-endpoint",
            moto_endpoint,
            "--s3-bucket",
            "cli-books",
            "--no-admin",
            "--idle-timeout",
            "0.5",
        ],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 20
        base_url = store_url = None
        while store_url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line and process.poll() is not None:
                break
            seen.append(line)
            if match := re.search(r"as DCS on (http://127\.0\.0\.1:\d+)", line):
                base_url = match.group(1)
            if match := re.search(r"presigned URLs: (http://127\.0\.0\.1:\d+)", line):
                store_url = match.group(1)
        assert base_url, "the emulator did not announce its address"
        assert store_url, "the emulator did not announce its store gateway"
        token = requests.post(
            f"{base_url}/auth/login",
            json={"email": DEFAULT_EMAIL, "password": DEFAULT_PASSWORD},
            timeout=5,
        ).json()["access_token"]
        response = requests.get(
            f"{base_url}/storage/books/Pub/Cli/presigned",
            params={"path": "a.mp3"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        assert response.status_code == 403  # --no-admin
        client = boto3.client(
            "s3",
            endpoint_url=moto_endpoint,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="y",
        )
        stored = client.get_object(Bucket="cli-books", Key="Pub/books/Cli/a.mp3")
        assert stored["Body"].read() == b"cli"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert f"uploaded 1 files to {moto_endpoint}/cli-books" in "".join(seen)
    assert "POST /auth/login -> 200" in stderr
