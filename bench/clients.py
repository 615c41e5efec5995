"""The clients of single requests: curl for single streams, http.client for timing.

Every path is driven by the same code; only the URL prefix and the
Authorization header differ (see `Target`).
"""

from __future__ import annotations

import http.client
import math
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import quote

RANGE_LENGTH = 64 * 1024
TIMEOUT = 30.0


@dataclass(frozen=True)
class Target:
    """One way of reaching the files: a port, a URL prefix, maybe a bearer token."""

    label: str
    port: int
    prefix: str  # the file name is appended, percent-encoded
    authorization: str | None = None

    def path(self, name: str) -> str:
        return self.prefix + quote(name, safe="")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": self.authorization} if self.authorization else {}
        return {**headers, **(extra or {})}


@dataclass(frozen=True)
class PresignedTarget(Target):
    """A client holding one presigned URL per file (signed by DCS): no prefix, no header."""

    urls: tuple[tuple[str, str], ...] = ()  # file name -> the URL's path and query, as signed

    def path(self, name: str) -> str:
        for file, path in self.urls:
            if file == name:
                return path
        raise KeyError(f"{self.label}: no presigned URL for {name}")


def percentile(values, fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


# --- single streams: curl ---------------------------------------------------------


@dataclass
class CurlResult:
    status: int
    size: int
    speed: float  # bytes per second, curl's %{speed_download}


def curl_download(url: str, headers: dict[str, str], max_time: float = 60) -> CurlResult:
    return finish_curl(start_curl(url, headers, max_time))


def start_curl(url: str, headers: dict[str, str], max_time: float = 60) -> subprocess.Popen:
    argv = ["curl", "-s", "--noproxy", "*", "-o", "/dev/null", "--max-time", str(max_time)]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv += ["-w", "%{http_code} %{size_download} %{speed_download}", url]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


def finish_curl(process: subprocess.Popen) -> CurlResult:
    out, _ = process.communicate(timeout=90)
    code, size, speed = out.split()
    return CurlResult(int(code), int(size), float(speed))


# --- one keep-alive connection: time to first byte ------------------------------------


class CheckFailed(Exception):
    """An answer with the wrong status, headers or bytes."""


def timed_get(
    conn: http.client.HTTPConnection, path: str, headers: dict[str, str]
) -> tuple[http.client.HTTPResponse, float]:
    """Send, wait for the first body byte; the time from send to that byte. Body not read."""
    started = time.perf_counter()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    if response.length != 0:
        response.fp.peek(1)  # blocks until the first body byte is here
    return response, time.perf_counter() - started


def check_range(
    response: http.client.HTTPResponse, body: bytes, content: bytes, start: int, last: int
) -> None:
    if response.status != 206:
        raise CheckFailed(f"status {response.status}")
    expected_range = f"bytes {start}-{last}/{len(content)}"
    if response.getheader("Content-Range") != expected_range:
        raise CheckFailed(f"Content-Range {response.getheader('Content-Range')}")
    if len(body) != last - start + 1:
        raise CheckFailed("short read")
    if body != content[start : last + 1]:
        raise CheckFailed("byte mismatch")


class SeekSeries:
    """Sequential requests on one keep-alive connection; TTFB of each."""

    def __init__(self, target: Target, name: str | None, size: int, content: bytes | None):
        self.target = target
        self.path = target.path(name) if name is not None else target.prefix
        self.size = size
        self.content = content
        self.conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=TIMEOUT)
        self.ttfb: list[float] = []
        self.errors: Counter[str] = Counter()

    def fresh_connection(self) -> None:
        """A new connection, opened by one unmeasured request."""
        self.conn.close()
        extra = {"Range": f"bytes=0-{RANGE_LENGTH - 1}"} if self.content is not None else {}
        self.conn.request("GET", self.path, headers=self.target.headers(extra))
        self.conn.getresponse().read()

    def range_reads(self, offsets: list[int]) -> None:
        for start in offsets:
            last = start + RANGE_LENGTH - 1
            try:
                response, ttfb = timed_get(
                    self.conn, self.path, self.target.headers({"Range": f"bytes={start}-{last}"})
                )
                body = response.read()
                if response.status != 206 or len(body) != RANGE_LENGTH:
                    raise CheckFailed(f"status {response.status}, {len(body)} bytes")
                if self.content is not None:
                    check_range(response, body, self.content, start, last)
                self.ttfb.append(ttfb)
            except (CheckFailed, OSError, http.client.HTTPException) as error:
                self.errors[error_name(error)] += 1
                self.conn.close()

    def plain_gets(self, count: int) -> None:
        for _ in range(count):
            try:
                response, ttfb = timed_get(self.conn, self.path, self.target.headers())
                response.read()
                if response.status != 200:
                    raise CheckFailed(f"status {response.status}")
                self.ttfb.append(ttfb)
            except (CheckFailed, OSError, http.client.HTTPException) as error:
                self.errors[error_name(error)] += 1
                self.conn.close()

    def close(self) -> None:
        self.conn.close()


def error_name(error: BaseException) -> str:
    return str(error) if isinstance(error, CheckFailed) else type(error).__name__


def get(target: Target, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One request on a fresh connection (so both gunicorn workers get traffic)."""
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=TIMEOUT)
    try:
        conn.request("GET", path, headers=target.headers(headers))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
