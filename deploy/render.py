"""Render the shipped nginx config: a site file, or a complete nginx.conf.

    # The site, to include inside `http { }` of an nginx.conf of your own:
    python deploy/render.py deploy/nginx/lms.conf.template SERVER_NAME=lms.example.org \\
        LMS_ADDRESS=127.0.0.1:8000 STATIC_ROOT=/srv/lms/var/static > /etc/nginx/conf.d/lms.conf

    # A complete, runnable nginx.conf (events, http, temp paths, mime types, and a
    # default server that drops requests for unknown hosts):
    python deploy/render.py --complete deploy/nginx/lms.conf.template NAME=VALUE ...

The shape follows from the values (docs/deployment.md#nginx):

- TLS at nginx: TLS_CERTIFICATE and TLS_CERTIFICATE_KEY. LISTEN (default 443) serves
  HTTPS, HTTP_LISTEN (default 80) redirects to it. Without them LISTEN (default 80)
  serves plain HTTP.
- BEHIND_LOAD_BALANCER=yes: the load balancer's X-Forwarded-Proto/-For are passed on.
  The default `no`: nginx is the edge and replaces any client's with its own.
- Offload mode: MEDIA_OFFLOAD_SECRET (the LMS's). It needs DCS: DCS_BASE_URL (the
  LMS's setting), or DCS_ADDRESS, DCS_SCHEME and DCS_HOST. Presigned reads through
  nginx also need the object store: MEDIA_NGINX_STORE_ORIGIN, or STORE_ADDRESS
  (with STORE_SCHEME, STORE_HOST).

Templates hold `${NAME}` values (upper case; nginx's own $variables stay) and
`#if NAME` / `#else` / `#end` lines around what only one shape needs. A value the
shape needs but nobody gave is a one-line error. The LMS's own time limits
default to its code's, so the template never holds a copy that could drift.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from media_proxy import timeouts

DEPLOY = Path(__file__).resolve().parent
SITE_TEMPLATE = DEPLOY / "nginx" / "lms.conf.template"
MAIN_TEMPLATE = DEPLOY / "nginx" / "nginx.conf.template"
ERRORS_TEMPLATE = DEPLOY / "nginx" / "errors.conf.template"

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
CONDITION = re.compile(r"^\s*#(if|else|end)\b\s*([A-Z_]*)\s*$")
SECRET_CHARACTERS = re.compile(r"[A-Za-z0-9._~+/=-]+")
YES = ("1", "true", "yes", "on")
NO = ("", "0", "false", "no", "off")

DEFAULTS = {
    # Names the site's upstreams (and TLS session cache): render the template twice
    # into one nginx.conf with two different values.
    "SITE": "lms",
    "HTTP_LISTEN": "80",  # with TLS: plain HTTP, redirected to HTTPS
    "HSTS_SECONDS": "31536000",  # with TLS: what nginx itself answers (Django sends its own)
    "BEHIND_LOAD_BALANCER": "no",
    "MEDIA_OFFLOAD_SECRET": "",  # streaming mode needs none
    "TLS_CERTIFICATE": "",
    "TLS_CERTIFICATE_KEY": "",
    # The LMS's own time limits, unless given (the same names as its settings).
    "DCS_CONNECT_TIMEOUT": str(timeouts.DCS_CONNECT_TIMEOUT),
    "DCS_READ_TIMEOUT": str(timeouts.DCS_READ_TIMEOUT),
    "MEDIA_SEND_TIMEOUT": str(timeouts.MEDIA_SEND_TIMEOUT),
    "STORE_SCHEME": "http",
    "LMS_READ_TIMEOUT": "60",  # seconds gunicorn may take to answer (then 504)
    "KEEPALIVE_TIMEOUT": "75",  # seconds nginx keeps an idle client connection (its default)
    "GUNICORN_KEEPALIVE": "5",  # gunicorn's idle keep-alive, seconds (deploy/gunicorn.conf.py)
    "MEDIA_MAX_STREAMS_PER_USER": "16",  # the LMS's default (lms/settings.py)
    # Only --complete: where nginx keeps its files (Debian's layout).
    "NGINX_USER": "www-data",
    "NGINX_PID": "/run/nginx.pid",
    "NGINX_LOG_DIR": "/var/log/nginx",
    "NGINX_TEMP_DIR": "/var/lib/nginx",
    "NGINX_MIME_TYPES": "/etc/nginx/mime.types",
    "NGINX_WORKER_CONNECTIONS": "4096",
}
#: Values the caller gives or derives from others (never placeholders of their own).
INPUTS = {"DCS_BASE_URL", "MEDIA_NGINX_STORE_ORIGIN"}
#: Placeholders render.py fills itself from the other values.
DERIVED = {
    "FORWARDED_PROTO",
    "FORWARDED_FOR",
    "HTTPS_PORT_SUFFIX",
    "JSON_ERRORS",
    "LMS_KEEPALIVE_TIMEOUT",
    "NGINX_WORKER_RLIMIT_NOFILE",
}
ALWAYS_NEEDED = ("SERVER_NAME", "LMS_ADDRESS", "STATIC_ROOT")
DCS_VALUES = ("DCS_ADDRESS", "DCS_SCHEME", "DCS_HOST")


class RenderError(ValueError):
    """A value is missing, malformed or unknown: str() is the one line to show."""


@dataclass(frozen=True)
class Site:
    text: str
    listens: tuple[tuple[str, bool], ...]  # (LISTEN value, serves TLS)


def _flag(values: Mapping[str, str], name: str) -> bool:
    value = values.get(name, "").strip().lower()
    if value in YES:
        return True
    if value in NO:
        return False
    raise RenderError(f"{name} must be yes or no, not {values[name]!r}")


def _origin(url: str, name: str) -> tuple[str, str, str]:
    """(address host:port, scheme, Host header) of an http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RenderError(f"{name} must be an http:// or https:// URL, not {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}", parts.scheme, parts.netloc.rpartition("@")[2]


def _https_port_suffix(listen: str) -> str:
    """What a redirect to HTTPS appends to the host: nothing for 443, else ':port'."""
    port = listen.rpartition(":")[2] if listen.rpartition(":")[2].isdigit() else listen
    if not port.isdigit():
        raise RenderError(f"LISTEN must be a port or address:port, not {listen!r}")
    return "" if port == "443" else f":{port}"


def site_values(given: Mapping[str, str]) -> tuple[dict[str, str], dict[str, bool]]:
    """Every value of the site template, and its conditions (TLS, OFFLOAD, STORE)."""
    values = {**DEFAULTS, **given}
    tls = bool(values["TLS_CERTIFICATE"] or values["TLS_CERTIFICATE_KEY"])
    if tls and not (values["TLS_CERTIFICATE"] and values["TLS_CERTIFICATE_KEY"]):
        raise RenderError("TLS needs both TLS_CERTIFICATE and TLS_CERTIFICATE_KEY")
    values.setdefault("LISTEN", "443" if tls else "80")
    if tls:
        values["HTTPS_PORT_SUFFIX"] = _https_port_suffix(values["LISTEN"])
    behind = _flag(values, "BEHIND_LOAD_BALANCER")
    # At the edge nginx alone says how the client came and from where; behind a load
    # balancer (reachable only from it) it passes on what the balancer said.
    values["FORWARDED_PROTO"] = "$http_x_forwarded_proto" if behind else "$scheme"
    values["FORWARDED_FOR"] = "$proxy_add_x_forwarded_for" if behind else "$remote_addr"

    offload = bool(values["MEDIA_OFFLOAD_SECRET"])
    if offload and len(values["MEDIA_OFFLOAD_SECRET"]) < 16:
        raise RenderError("MEDIA_OFFLOAD_SECRET must be 16 characters or more (the LMS's)")
    if offload and not SECRET_CHARACTERS.fullmatch(values["MEDIA_OFFLOAD_SECRET"]):
        # nginx would read a $ as a variable, a quote or a space as the string's end
        raise RenderError("MEDIA_OFFLOAD_SECRET may hold only letters, digits and - _ . ~ + / =")
    if offload and values.get("DCS_BASE_URL"):
        address, scheme, host = _origin(values["DCS_BASE_URL"], "DCS_BASE_URL")
        values.setdefault("DCS_ADDRESS", address)
        values.setdefault("DCS_SCHEME", scheme)
        values.setdefault("DCS_HOST", host)
    if offload and (lacking := [name for name in DCS_VALUES if not values.get(name)]):
        raise RenderError(
            f"offload mode (MEDIA_OFFLOAD_SECRET) needs DCS_BASE_URL, or {', '.join(lacking)}"
        )
    if values.get("MEDIA_NGINX_STORE_ORIGIN"):
        address, scheme, host = _origin(
            values["MEDIA_NGINX_STORE_ORIGIN"], "MEDIA_NGINX_STORE_ORIGIN"
        )
        values.setdefault("STORE_ADDRESS", address)
        values["STORE_SCHEME"] = given.get("STORE_SCHEME", scheme)
        values.setdefault("STORE_HOST", host)
    store = offload and bool(values.get("STORE_ADDRESS"))
    if store:
        values.setdefault("STORE_HOST", values["STORE_ADDRESS"].partition(":")[0])
    lacking = [name for name in ALWAYS_NEEDED if not values.get(name)]
    if lacking:
        raise RenderError(f"no value for {', '.join(lacking)}")
    for name in ("KEEPALIVE_TIMEOUT", "GUNICORN_KEEPALIVE"):
        if not values[name].isdigit() or int(values[name]) < 1:
            raise RenderError(f"{name} must be a whole number of seconds, 1 or more")
    # nginx drops an idle connection to gunicorn before gunicorn closes it: a request
    # sent as gunicorn closes is reset, and nginx does not retry a POST (a 502).
    values["LMS_KEEPALIVE_TIMEOUT"] = f"{int(values['GUNICORN_KEEPALIVE']) * 800}ms"
    if not values["MEDIA_MAX_STREAMS_PER_USER"].isdigit():
        raise RenderError("MEDIA_MAX_STREAMS_PER_USER must be a whole number (0: no cap)")
    stream_cap = offload and int(values["MEDIA_MAX_STREAMS_PER_USER"]) > 0
    return values, {"TLS": tls, "OFFLOAD": offload, "STORE": store, "STREAM_CAP": stream_cap}


def _select(template: str, conditions: Mapping[str, bool]) -> str:
    """Keep the lines whose #if/#else/#end conditions hold; drop the directive lines."""
    kept: list[str] = []
    stack: list[bool] = []  # whether each open block's current branch is kept
    for number, line in enumerate(template.splitlines(keepends=True), 1):
        match = CONDITION.match(line)
        if match is None:
            if all(stack):
                kept.append(line)
            continue
        word, name = match.groups()
        if word == "if":
            if name not in conditions:
                raise RenderError(f"line {number}: unknown condition #if {name}")
            stack.append(conditions[name])
        elif not stack or name:
            raise RenderError(f"line {number}: #{word} {name} out of place")
        elif word == "else":
            stack[-1] = not stack[-1]
        else:
            stack.pop()
    if stack:
        raise RenderError("an #if has no #end")
    return "".join(kept)


def _fill(template: str, values: Mapping[str, str]) -> str:
    missing = sorted(set(PLACEHOLDER.findall(template)) - set(values))
    if missing:
        raise RenderError(f"no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda match: values[match[1]], template)


def json_errors(values: Mapping[str, str], conditions: Mapping[str, bool], indent: int) -> str:
    """errors.conf.template, rendered and indented to sit inside a server block."""
    text = _without_header(_fill(_select(ERRORS_TEMPLATE.read_text(), conditions), values))
    return _indent(text, indent).rstrip("\n")


def render_site(template: str, given: Mapping[str, str]) -> Site:
    values, conditions = site_values(given)
    values["JSON_ERRORS"] = json_errors(values, conditions, 4)
    text = _fill(_select(template, conditions), values)
    listens = [(values["LISTEN"], conditions["TLS"])]
    if conditions["TLS"]:
        listens.append((values["HTTP_LISTEN"], False))
    return Site(text, tuple(listens))


def render(template: str, values: Mapping[str, str]) -> str:
    """The site file: `template` filled with `values` (and the defaults)."""
    return render_site(template, values).text


def default_servers(sites: Sequence[Site]) -> str:
    """One server per address that drops requests for hosts no site names (444): Django
    never sees them, so it never logs a DisallowedHost for a scanner's Host header."""
    listens: dict[str, bool] = {}
    for site in sites:
        for listen, tls in site.listens:
            if listens.setdefault(listen, tls) != tls:
                raise RenderError(f"{listen} serves HTTPS for one site and HTTP for another")
    blocks = []
    for listen, tls in listens.items():
        if tls:  # no certificate to show a stranger: refuse the handshake itself
            body = f"listen {listen} ssl default_server;\n        ssl_reject_handshake on;"
            body += "\n        return 444;"
        else:  # a request too large to have a Host yet is answered here: JSON too
            errors = json_errors(DEFAULTS, {"TLS": False}, 8)
            body = f"listen {listen} default_server;\n\n{errors}\n\n        location / {{"
            body += "\n            return 444;\n        }"
        blocks.append(f"    server {{\n        {body}\n    }}\n")
    return "\n".join(blocks)


def render_complete(template: str, *sites: Mapping[str, str]) -> str:
    """A complete nginx.conf serving each of `sites` (values for `template`); the NGINX_*
    values come from the first."""
    rendered = [render_site(template, values) for values in sites]
    main = {**DEFAULTS, **sites[0]}
    if not main["NGINX_WORKER_CONNECTIONS"].isdigit():
        raise RenderError("NGINX_WORKER_CONNECTIONS must be a whole number")
    # An offloaded body holds two connections (the player's, DCS's); systemd gives
    # nginx.service a soft limit of 1024 open files unless told otherwise.
    main["NGINX_WORKER_RLIMIT_NOFILE"] = str(2 * int(main["NGINX_WORKER_CONNECTIONS"]) + 1024)
    main["DEFAULT_SERVERS"] = default_servers(rendered)
    main["SITES"] = "\n".join(_indent(_without_header(site.text), 4) for site in rendered)
    return _fill(MAIN_TEMPLATE.read_text(), main)


def _without_header(text: str) -> str:
    """The site without its leading comment (how to render it: done)."""
    lines = text.splitlines(True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    while lines and not lines[0].strip():
        lines.pop(0)
    return "".join(lines)


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "".join(f"{pad}{line}" if line.strip() else line for line in text.splitlines(True))


def _known(template: str) -> set[str]:
    names = set(PLACEHOLDER.findall(template)) | set(DEFAULTS) | INPUTS
    return (names | {"LISTEN", *DCS_VALUES, "STORE_ADDRESS", "STORE_HOST"}) - DERIVED


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    complete = "--complete" in args
    if complete:
        args.remove("--complete")
    if not args or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    path, *pairs = args
    try:
        template = Path(path).read_text()
        values = {}
        for pair in pairs:
            name, equals, value = pair.partition("=")
            if not equals:
                raise RenderError(f"expected NAME=VALUE, got {pair!r}")
            if name not in _known(template):
                raise RenderError(f"unknown value {name} (docs/deployment.md#nginx)")
            values[name] = value
        text = render_complete(template, values) if complete else render(template, values)
    except (RenderError, OSError) as error:
        print(f"render.py: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
