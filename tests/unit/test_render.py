"""deploy/render.py: each shape of the nginx config from its values, and a one-line error
(no traceback) for a value a shape needs but nobody gave. `nginx -t` on every shape is
in tests/integration/test_tls_and_proxies.py."""

import re
import subprocess
import sys

import pytest

from deploy.render import SITE_TEMPLATE, RenderError, render, render_complete
from tests.conftest import ROOT

TEMPLATE = SITE_TEMPLATE.read_text()
STREAMING = {"SERVER_NAME": "lms.example.org", "LMS_ADDRESS": "127.0.0.1:8000", "STATIC_ROOT": "/s"}
SECRET = "s" * 20
CERT = {"TLS_CERTIFICATE": "/etc/lms/cert.pem", "TLS_CERTIFICATE_KEY": "/etc/lms/key.pem"}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "deploy/render.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_streaming_needs_no_dcs_values():
    site = render(TEMPLATE, STREAMING)
    assert "listen 80;" in site
    assert "_dcs_object" not in site
    assert 'X-Media-Offload-Secret ""' in site
    assert "ssl" not in site
    assert not re.search(r"\$\{[A-Z]", site)  # every value filled


def test_todays_values_still_render():
    values = {
        **STREAMING,
        "LISTEN": "80",
        "DCS_ADDRESS": "dcs.example.org:443",
        "DCS_SCHEME": "https",
        "DCS_HOST": "dcs.example.org",
    }
    assert "listen 80;" in render(TEMPLATE, values)
    with_secret = render(TEMPLATE, {**values, "MEDIA_OFFLOAD_SECRET": SECRET})
    assert "proxy_pass https://lms_dcs/storage/books/" in with_secret
    assert "proxy_set_header Host dcs.example.org;" in with_secret


def test_offload_takes_dcs_from_its_base_url():
    site = render(
        TEMPLATE,
        {**STREAMING, "MEDIA_OFFLOAD_SECRET": SECRET, "DCS_BASE_URL": "https://dcs.example.org"},
    )
    assert "server dcs.example.org:443;" in site
    assert "proxy_set_header Host dcs.example.org;" in site
    assert "_store_object" not in site  # no store given: presigned reads stream
    stored = render(
        TEMPLATE,
        {
            **STREAMING,
            "MEDIA_OFFLOAD_SECRET": SECRET,
            "DCS_BASE_URL": "http://127.0.0.1:8081",
            "MEDIA_NGINX_STORE_ORIGIN": "https://store.example.org",
        },
    )
    assert "server store.example.org:443;" in stored
    assert "proxy_pass https://lms_store$store_path;" in stored


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"SERVER_NAME": "x"}, "no value for LMS_ADDRESS, STATIC_ROOT"),
        (
            {**STREAMING, "MEDIA_OFFLOAD_SECRET": SECRET},
            "offload mode (MEDIA_OFFLOAD_SECRET) needs DCS_BASE_URL, or DCS_ADDRESS, DCS_SCHEME",
        ),
        ({**STREAMING, "MEDIA_OFFLOAD_SECRET": "short"}, "16 characters or more"),
        ({**STREAMING, "MEDIA_OFFLOAD_SECRET": "$" + SECRET}, "only letters, digits"),
        ({**STREAMING, "TLS_CERTIFICATE": "/c.pem"}, "TLS needs both"),
        ({**STREAMING, "BEHIND_LOAD_BALANCER": "maybe"}, "must be yes or no"),
        (
            {**STREAMING, "MEDIA_OFFLOAD_SECRET": SECRET, "DCS_BASE_URL": "dcs.example.org"},
            "DCS_BASE_URL must be an http:// or https:// URL",
        ),
        ({**STREAMING, "GUNICORN_KEEPALIVE": "0"}, "GUNICORN_KEEPALIVE must be a whole number"),
        ({**STREAMING, "KEEPALIVE_TIMEOUT": "10m"}, "KEEPALIVE_TIMEOUT must be a whole number"),
    ],
)
def test_a_missing_or_wrong_value_is_one_clear_line(values, message):
    with pytest.raises(RenderError, match=message.replace("(", r"\(").replace(")", r"\)")):
        render(TEMPLATE, values)
    args = [f"{name}={value}" for name, value in values.items()]
    result = cli(str(SITE_TEMPLATE), *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("render.py: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # no traceback


@pytest.mark.parametrize("name", ["LISTNE", "FORWARDED_PROTO"])  # a typo; render.py's own
def test_an_unknown_value_is_refused(name):
    result = cli(str(SITE_TEMPLATE), *[f"{k}={v}" for k, v in STREAMING.items()], f"{name}=x")
    assert result.returncode == 2
    assert result.stderr.strip() == f"render.py: unknown value {name} (docs/deployment.md#nginx)"


def test_tls_at_nginx():
    site = render(TEMPLATE, {**STREAMING, **CERT})
    assert "listen 443 ssl;" in site
    assert "ssl_certificate /etc/lms/cert.pem;" in site
    assert "listen 80;" in site  # the redirect
    assert "return 301 https://$host$request_uri;" in site
    assert "X-Forwarded-Proto $scheme;" in site
    odd_port = render(TEMPLATE, {**STREAMING, **CERT, "LISTEN": "8443"})
    assert "return 301 https://$host:8443$request_uri;" in odd_port


def test_who_says_how_the_client_came():
    edge = render(TEMPLATE, STREAMING)
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in edge
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in edge
    behind = render(TEMPLATE, {**STREAMING, "BEHIND_LOAD_BALANCER": "yes"})
    assert "proxy_set_header X-Forwarded-Proto $http_x_forwarded_proto;" in behind
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in behind


def test_complete_config_has_a_default_server_per_address():
    config = render_complete(TEMPLATE, {**STREAMING, **CERT})
    assert config.startswith("# A complete nginx.conf")
    assert "events {" in config
    assert "include /etc/nginx/mime.types;" in config
    assert "listen 443 ssl default_server;" in config
    assert "ssl_reject_handshake on;" in config
    assert "listen 80 default_server;" in config
    assert config.count("return 444;") == 2


@pytest.mark.parametrize(("connections", "files"), [(None, 9216), ("8192", 17408)])
def test_each_worker_may_open_two_files_per_connection(connections, files):
    """An offloaded body holds the player's connection and DCS's; systemd's default
    (1024 open files) would stop nginx at a few hundred paused players."""
    values = {**STREAMING, **({"NGINX_WORKER_CONNECTIONS": connections} if connections else {})}
    config = render_complete(TEMPLATE, values)
    assert f"worker_rlimit_nofile {files};" in config
    with pytest.raises(RenderError, match="NGINX_WORKER_CONNECTIONS"):
        render_complete(TEMPLATE, {**STREAMING, "NGINX_WORKER_CONNECTIONS": "many"})


def test_the_site_can_be_included_twice():
    config = render_complete(
        TEMPLATE, {**STREAMING, "SITE": "one"}, {**STREAMING, "SITE": "two", "SERVER_NAME": "b"}
    )
    assert "upstream one_app {" in config
    assert "upstream two_app {" in config
    assert config.count("listen 80 default_server;") == 1
    with pytest.raises(RenderError, match="serves HTTPS for one site and HTTP for another"):
        render_complete(TEMPLATE, {**STREAMING, **CERT, "LISTEN": "80"}, STREAMING)


def test_cli_complete():
    result = cli("--complete", str(SITE_TEMPLATE), *[f"{k}={v}" for k, v in STREAMING.items()])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# A complete nginx.conf")


@pytest.mark.parametrize(("cap", "limit"), [(None, 16), ("3", 3), ("0", None)])
def test_offload_caps_each_users_streams_as_the_lms_does(cap, limit):
    values = {**STREAMING, "MEDIA_OFFLOAD_SECRET": SECRET, "DCS_BASE_URL": "http://dcs:8080"}
    if cap is not None:
        values["MEDIA_MAX_STREAMS_PER_USER"] = cap
    site = render(TEMPLATE, values)
    if limit is None:  # 0: no cap, as in the LMS
        assert "limit_conn" not in site
    else:
        assert site.count(f"limit_conn lms_media_streams {limit};") == 1  # /_dcs_object
        assert "limit_conn_zone $media_user zone=lms_media_streams:10m;" in site
    assert "limit_conn" not in render(TEMPLATE, STREAMING)  # streaming: Django counts


def test_a_stream_cap_that_is_not_a_number_is_refused():
    values = {**STREAMING, "MEDIA_OFFLOAD_SECRET": SECRET, "DCS_BASE_URL": "http://dcs:8080"}
    with pytest.raises(RenderError, match="MEDIA_MAX_STREAMS_PER_USER"):
        render(TEMPLATE, {**values, "MEDIA_MAX_STREAMS_PER_USER": "lots"})


@pytest.mark.parametrize(("keepalive", "timeout"), [(None, "4000ms"), ("2", "1600ms")])
def test_nginx_drops_an_idle_connection_to_gunicorn_before_gunicorn_does(keepalive, timeout):
    values = {**STREAMING, **({"GUNICORN_KEEPALIVE": keepalive} if keepalive else {})}
    upstream = render(TEMPLATE, values).split("upstream lms_app {")[1].split("}")[0]
    assert f"keepalive_timeout {timeout};" in upstream


@pytest.mark.parametrize(("given", "seconds"), [(None, 75), ("620", 620)])
def test_nginx_keeps_an_idle_client_connection_as_long_as_asked(given, seconds):
    """Behind a load balancer, longer than the balancer keeps its own (docs/deployment.md)."""
    values = {**STREAMING, **({"KEEPALIVE_TIMEOUT": given} if given else {})}
    for site in (render(TEMPLATE, values), render(TEMPLATE, {**values, **CERT})):
        server = site.split("server_name lms.example.org;")[-1]  # the LMS's own server
        assert server.count(f"keepalive_timeout {seconds}s;") == 1
