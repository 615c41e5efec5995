"""The shipped nginx config as `render.py --complete` renders it, every shape at once in one
real nginx (the site template included once per shape) in front of one gunicorn in offload
mode with production's HTTPS settings:

- TLS at nginx (a self-signed certificate made here): HTTPS pages, secure cookies, plain
  HTTP redirected, no redirect loop; unknown hosts dropped before Django sees them;
- behind a TLS load balancer: the balancer's X-Forwarded-Proto is believed;
- nginx at the edge on plain HTTP: a client's X-Forwarded-Proto is not;
- offloaded media carries the security headers a streamed answer does (HSTS on HTTPS);
- nginx's own errors on the API are JSON (414, header too large, 413, 502, 504).
"""

import datetime
import http.client
import json
import re
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from local_servers import OFFLOAD_SECRET, complete_nginx_command, free_port, wait_for_port
from local_servers import stop_process as stop
from tests.conftest import require_tool, server_env, start_gunicorn
from tests.factories import bearer, make_user, student_with_book
from tests.wire import media_path

pytestmark = [pytest.mark.wire, pytest.mark.tools]

HOST = "lms.test"
PASSWORD = "pw-tls-123"
FILE = "data/random-300k.bin"
SECURITY_HEADERS = (
    "Strict-Transport-Security",
    "X-Frame-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "X-Content-Type-Options",
)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for HOST (its own CA): (certificate, key) PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "lms.crt", directory / "lms.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def cookies(self) -> dict[str, str]:
        """Set-Cookie lines by cookie name (the whole line, attributes included)."""
        lines = self.headers.get_all("Set-Cookie") or []
        return {line.split("=", 1)[0]: line for line in lines}


@dataclass
class Stack:
    https: int  # TLS at nginx
    http: int  # its plain HTTP: redirects
    lb: int  # behind a TLS load balancer
    edge: int  # nginx at the edge, plain HTTP
    down: int  # gunicorn down
    slow: int  # gunicorn silent
    context: ssl.SSLContext
    app: object  # the LMSServer of gunicorn

    def ask(
        self,
        port: int,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        *,
        tls: bool = False,
        host: str = HOST,
    ) -> Answer:
        """One request on a fresh connection to 127.0.0.1:port, as Host (and SNI) `host`."""
        if tls:
            connection = _Pinned(host, port, context=self.context, timeout=15)
        else:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in {"Host": f"{host}:{port}", **(headers or {})}.items():
                connection.putheader(name, value)
            if body:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            connection.close()


class _Pinned(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 whatever the name, which is only sent as SNI and checked."""

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


@pytest.fixture(scope="module")
def stack(django_db_setup, dcs_server, tmp_path_factory):
    nginx = require_tool("nginx")
    directory = tmp_path_factory.mktemp("tls")
    certificate, key = make_certificate(directory)
    env = server_env(
        dcs_server.base_url,
        ALLOWED_HOSTS=HOST,
        MEDIA_NGINX_OFFLOAD="true",
        # Production's HTTPS settings (off by default under test).
        SECURE_SSL_REDIRECT="true",
        SESSION_COOKIE_SECURE="true",
        SECURE_HSTS_SECONDS="3600",
    )
    app = start_gunicorn(env, directory / "gunicorn.log")
    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    ports = {name: free_port() for name in ("https", "http", "lb", "edge", "down", "slow")}
    common = {
        "SERVER_NAME": HOST,
        "LMS_ADDRESS": app.base_url.removeprefix("http://"),
        "STATIC_ROOT": str(directory / "static"),
        "MEDIA_OFFLOAD_SECRET": OFFLOAD_SECRET,
        "DCS_BASE_URL": dcs_server.base_url,
    }
    sites = [
        {
            **common,
            "SITE": "tls",
            "LISTEN": f"127.0.0.1:{ports['https']}",
            "HTTP_LISTEN": f"127.0.0.1:{ports['http']}",
            "TLS_CERTIFICATE": str(certificate),
            "TLS_CERTIFICATE_KEY": str(key),
        },
        {
            **common,
            "SITE": "lb",
            "LISTEN": f"127.0.0.1:{ports['lb']}",
            "BEHIND_LOAD_BALANCER": "yes",
        },
        {**common, "SITE": "edge", "LISTEN": f"127.0.0.1:{ports['edge']}"},
        {
            **common,
            "SITE": "down",
            "LISTEN": f"127.0.0.1:{ports['down']}",
            "LMS_ADDRESS": f"127.0.0.1:{free_port()}",
        },
        {
            **common,
            "SITE": "slow",
            "LISTEN": f"127.0.0.1:{ports['slow']}",
            "LMS_ADDRESS": f"127.0.0.1:{silent.getsockname()[1]}",
            "LMS_READ_TIMEOUT": "1",
        },
    ]
    argv = complete_nginx_command(nginx, directory, *sites)
    checked = subprocess.run([*argv, "-t"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    for port in ports.values():
        wait_for_port(port, process)
    context = ssl.create_default_context(cafile=str(certificate))
    yield Stack(**ports, context=context, app=app)
    stop(process)
    stop(app.process)
    silent.close()


@pytest.fixture
def tls(stack, transactional_db, dcs):
    return stack


def sign_in(stack: Stack, port: int, tls: bool, headers: dict[str, str]) -> Answer:
    """The login form, as a browser sends it (CSRF cookie and token, Origin)."""
    make_user("tls-user", password=PASSWORD)
    page = stack.ask(port, "GET", "/accounts/login/", headers, tls=tls)
    assert page.status == 200
    csrf_line = page.cookies()["csrftoken"]
    csrf_cookie = csrf_line.split(";")[0].split("=", 1)[1]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)[1].decode()
    scheme = "https" if tls or headers.get("X-Forwarded-Proto") == "https" else "http"
    form = f"csrfmiddlewaretoken={token}&username=tls-user&password={PASSWORD}&next=/books/"
    answer = stack.ask(
        port,
        "POST",
        "/accounts/login/",
        {
            **headers,
            "Cookie": f"csrftoken={csrf_cookie}",
            "Origin": f"{scheme}://{HOST}:{port}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        form.encode(),
        tls=tls,
    )
    assert "Secure" in csrf_line
    return answer


def assert_signed_in_securely(stack: Stack, port: int, tls: bool, headers: dict[str, str]):
    answer = sign_in(stack, port, tls, headers)
    assert answer.status == 302, answer.body[:500]
    assert answer.headers["Location"] == "/books/"
    session = answer.cookies()["sessionid"]
    assert "; Secure" in session
    assert "HttpOnly" in session
    cookie = session.split(";")[0]
    books = stack.ask(port, "GET", "/books/", {**headers, "Cookie": cookie}, tls=tls)
    assert books.status == 200  # a page, not a redirect (to HTTPS, or to itself)
    assert books.headers["Strict-Transport-Security"] == "max-age=3600; includeSubDomains; preload"


# --- TLS at nginx ------------------------------------------------------------------------


def test_plain_http_is_redirected_to_https(tls):
    answer = tls.ask(tls.http, "GET", "/books/?page=2")
    assert answer.status == 301
    assert answer.headers["Location"] == f"https://{HOST}:{tls.https}/books/?page=2"


def test_https_pages_and_secure_cookies(tls):
    page = tls.ask(tls.https, "GET", "/books/", tls=True)
    assert page.status == 302  # to the login page, not to HTTPS again
    assert page.headers["Location"] == "/accounts/login/?next=/books/"
    # A client's header changes nothing: nginx says how the client came.
    forged = tls.ask(tls.https, "GET", "/accounts/login/", {"X-Forwarded-Proto": "http"}, tls=True)
    assert forged.status == 200
    assert_signed_in_securely(tls, tls.https, True, {})


def test_nginx_own_answers_on_https_carry_hsts(tls):
    answer = tls.ask(tls.https, "GET", "/static/missing.css", tls=True)
    assert answer.status == 404
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_unknown_hosts_never_reach_django(tls):
    since = len(tls.app.log_lines())
    with pytest.raises(ssl.SSLError):  # no certificate for a stranger: handshake refused
        tls.ask(tls.https, "GET", "/", tls=True, host="other.example")
    for port in (tls.http, tls.edge, tls.lb):  # 444: the connection closes, no answer
        with pytest.raises(http.client.RemoteDisconnected):
            tls.ask(port, "GET", "/books/", host="other.example")
    with pytest.raises(http.client.RemoteDisconnected):  # the right SNI, another Host
        tls.ask(tls.https, "GET", "/books/", {"Host": "other.example"}, tls=True)
    assert tls.ask(tls.edge, "GET", "/healthz").status == 200
    log = "\n".join(tls.app.log_lines()[since:])
    assert "DisallowedHost" not in log
    assert "Invalid HTTP_HOST" not in log


# --- behind a load balancer, and at the edge on plain HTTP --------------------------------


def test_behind_a_load_balancer_its_https_is_believed(tls):
    from_lb = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    assert tls.ask(tls.lb, "GET", "/accounts/login/", from_lb).status == 200
    assert_signed_in_securely(tls, tls.lb, False, from_lb)
    for plain in ({}, {"X-Forwarded-Proto": "http"}):  # the balancer's plain HTTP
        answer = tls.ask(tls.lb, "GET", "/books/", plain)
        assert answer.status == 301
        assert answer.headers["Location"] == f"https://{HOST}:{tls.lb}/books/"


def test_at_the_edge_a_client_cannot_claim_https(tls):
    answer = tls.ask(tls.edge, "GET", "/books/", {"X-Forwarded-Proto": "https"})
    assert answer.status == 301  # Django saw plain HTTP, as it came
    assert answer.headers["Location"] == f"https://{HOST}:{tls.edge}/books/"


# --- offloaded answers carry the security headers streamed ones do -------------------------


def media_outcomes(stack: Stack, since: int, count: int) -> list[str]:
    """The outcomes of the next `count` media log lines (written as each body ends)."""
    deadline = time.monotonic() + 10
    while True:
        outcomes = [
            json.loads(line.split("media_stream ", 1)[1])["outcome"]
            for line in stack.app.log_lines()[since:]
            if "media_stream " in line
        ]
        if len(outcomes) >= count or time.monotonic() > deadline:
            return outcomes
        time.sleep(0.05)


@pytest.mark.parametrize("shape", ["tls", "lb"])
def test_offloaded_and_streamed_answers_carry_the_same_security_headers(tls, shape):
    user, book = student_with_book()
    port, on_tls = (tls.https, True) if shape == "tls" else (tls.lb, False)
    headers = {**bearer(user), **({"X-Forwarded-Proto": "https"} if shape == "lb" else {})}
    path = media_path(book, FILE)
    since = len(tls.app.log_lines())
    offloaded = tls.ask(port, "GET", path, {**headers, "Range": "bytes=0-99"}, tls=on_tls)
    streamed = tls.ask(port, "GET", path, {**headers, "Range": "bytes=0-9,20-29"}, tls=on_tls)
    assert (offloaded.status, streamed.status) == (206, 206)
    assert len(offloaded.body) == 100
    assert media_outcomes(tls, since, 2) == ["offloaded", "complete"]
    for name in SECURITY_HEADERS:
        assert offloaded.headers.get_all(name) == streamed.headers.get_all(name), name
        assert len(offloaded.headers.get_all(name) or []) == 1, name
    assert offloaded.headers["Strict-Transport-Security"].startswith("max-age=3600")
    assert offloaded.headers["X-Frame-Options"] == "DENY"
    for name in ("Content-Security-Policy", "Cache-Control", "Vary"):
        assert offloaded.headers.get_all(name) == streamed.headers.get_all(name), name


# --- nginx's own errors speak JSON on the API ---------------------------------------------


def assert_json_error(answer: Answer, status: int, words: str) -> None:
    assert answer.status == status
    assert answer.headers["Content-Type"] == "application/json"
    assert words in json.loads(answer.body)["detail"]


def test_nginx_errors_on_the_api_are_json(tls):
    long_uri = "/api/v1/books/" + "a" * 10_000
    assert_json_error(tls.ask(tls.edge, "GET", long_uri), 414, "URI too long")
    assert_json_error(tls.ask(tls.https, "GET", long_uri, tls=True), 414, "URI too long")
    big_header = {"X-Padding": "a" * 20_000}
    assert_json_error(tls.ask(tls.edge, "GET", "/api/v1/me", big_header), 400, "too large")
    too_long = {"Content-Length": str(50 * 1024 * 1024), "Content-Type": "application/json"}
    assert_json_error(
        tls.ask(tls.edge, "POST", "/api/v1/auth/token", too_long), 413, "body too large"
    )
    assert_json_error(tls.ask(tls.down, "GET", "/api/v1/me"), 502, "not answering")
    assert_json_error(tls.ask(tls.slow, "GET", "/api/v1/me"), 504, "in time")
    assert tls.ask(tls.edge, "GET", "/_errors/502.json").status == 404  # internal only
    # Django's own errors pass unchanged.
    own = tls.ask(tls.lb, "GET", "/api/v1/me", {"X-Forwarded-Proto": "https"})
    assert_json_error(own, 401, "credentials were not provided")


# --- every shape is a config nginx accepts ---------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [
        {},
        {"BEHIND_LOAD_BALANCER": "yes"},
        {"MEDIA_OFFLOAD_SECRET": OFFLOAD_SECRET, "DCS_BASE_URL": "http://127.0.0.1:8081"},
        {
            "MEDIA_OFFLOAD_SECRET": OFFLOAD_SECRET,
            "DCS_BASE_URL": "https://127.0.0.1",
            "MEDIA_NGINX_STORE_ORIGIN": "http://127.0.0.1:9000",
        },
        {"TLS": "yes"},
        {"TLS": "yes", "BEHIND_LOAD_BALANCER": "yes", "MEDIA_OFFLOAD_SECRET": OFFLOAD_SECRET},
    ],
    ids=["streaming", "behind-lb", "offload", "offload-store", "tls", "tls-lb-offload"],
)
def test_every_shape_is_a_valid_nginx_conf(tmp_path, shape):
    nginx = require_tool("nginx")
    values = {
        "SERVER_NAME": HOST,
        "LMS_ADDRESS": "127.0.0.1:8000",
        "STATIC_ROOT": str(tmp_path / "static"),
        "LISTEN": f"127.0.0.1:{free_port()}",
        **shape,
    }
    if values.pop("TLS", None):
        certificate, key = make_certificate(tmp_path)
        values.update(TLS_CERTIFICATE=str(certificate), TLS_CERTIFICATE_KEY=str(key))
        values["HTTP_LISTEN"] = f"127.0.0.1:{free_port()}"
        values.setdefault("DCS_BASE_URL", "http://127.0.0.1:8081")
    argv = complete_nginx_command(nginx, tmp_path, values)
    checked = subprocess.run([*argv, "-t"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
