"""The DCS HTTP API as a WSGI application (see docs/dcs-contract.md)."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from requests.structures import CaseInsensitiveDict
from werkzeug.wrappers import Request

from .faults import Faults
from .paths import InvalidPath, book_prefix, check_segment, normalize_object_path, object_key
from .ranges import RangeNotSatisfiable, resolve_range
from .stats import RequestRecord, Stats
from .store import ObjectInfo, ObjectNotFound, ObjectStore, cache_control_for
from .tokens import TokenService

if TYPE_CHECKING:
    from .s3 import S3Mirror

logger = logging.getLogger("dcs_emulator")

#: the server puts the request's ConnectionInfo under this environ key
CONNECTION_KEY = "dcs_emulator.connection"
#: the app puts the status here when the server must close the connection after
#: the response (without announcing it), as uvicorn does after DCS's 304s and 500s
CLOSE_AFTER_KEY = "dcs_emulator.close_after"

#: the presigned endpoint's ``expires`` (FastAPI ``Query(3600, ge=60, le=86400)``)
EXPIRES_DEFAULT, EXPIRES_MIN, EXPIRES_MAX = 3600, 60, 86400
#: how often a hung request (``hang_all``) looks whether it was released
HANG_POLL = 0.02

Write = Callable[[bytes], object]
StreamBody = Callable[[Write], Iterator[bytes]]


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    #: bytes, or a function that gets the WSGI ``write`` (``write(b"")`` flushes
    #: the headers) and returns the body chunks
    body: bytes | StreamBody = b""
    #: close the connection after this response, without ``Connection: close``
    close: bool = False


def json_reply(status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> Reply:
    """A JSON body serialised the way FastAPI does (compact, UTF-8)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Reply(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers],
        body,
    )


def detail(status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> Reply:
    return json_reply(status, {"detail": message}, headers)


def internal_server_error() -> Reply:
    """The plain-text 500 of DCS's outermost error handler; uvicorn then closes the connection."""
    body = b"Internal Server Error"
    return Reply(
        500,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        body,
        close=True,
    )


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


@dataclass(frozen=True)
class Account:
    """The one DCS user the emulator knows. Only admins may ask for presigned URLs."""

    email: str
    password: str
    user_id: str = "1"
    admin: bool = True


class StoreDown(Exception):
    """The object store could not be reached (the ``store_down`` switch)."""


class StoreError(Exception):
    """The object store answered an error, or the presigned URLs have no store."""


class EventLoop:
    """DCS's asyncio event loop, as far as blocking goes.

    DCS calls its (synchronous) storage client from async routes, so a store
    call that waits blocks the worker's event loop: no other request of that
    worker makes progress until it returns. With ``store_blocks_loop`` a store
    call holds this lock while it waits, and every DCS request passes through
    the lock when it starts and before each body chunk.
    """

    def __init__(self, stopping: threading.Event) -> None:
        self._lock = threading.Lock()
        self._stopping = stopping

    def pass_through(self) -> None:
        """Wait until no store call blocks the loop (or the server stops)."""
        self._acquire()
        self._lock.release()

    @contextmanager
    def blocked(self) -> Iterator[None]:
        self._acquire()
        try:
            yield
        finally:
            self._lock.release()

    def _acquire(self) -> None:
        while not self._lock.acquire(timeout=HANG_POLL):
            if self._stopping.is_set():
                raise ConnectionAbortedError("the emulator is stopping")


class DCSApp:
    """WSGI callable serving DCS's routes, plus an optional control handler."""

    def __init__(
        self,
        store: ObjectStore,
        tokens: TokenService,
        account: Account,
        faults: Faults,
        stats: Stats,
        control: Callable[[Request], Reply] | None = None,
        mirror: S3Mirror | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.account = replace(account, email=account.email.strip().lower())
        self.faults = faults
        self.stats = stats
        self.control = control
        #: the S3 copy of the store that presigned URLs point into (None: no presigned URLs)
        self.mirror = mirror
        #: set when the server stops: hung and blocked requests give up
        self.stopping = stopping if stopping is not None else threading.Event()
        self.loop = EventLoop(self.stopping)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Write]
    ) -> Iterable[bytes]:
        request = Request(environ)
        record = None
        if self.control is not None and request.path.startswith("/_emulator/"):
            reply = self.control(request)
        else:
            record = record_request(self.stats, request, environ)
            self._hang_while_switched_on()
            self.loop.pass_through()
            try:
                reply = self._dispatch(request)
            except Exception:
                logger.exception("unexpected error on %s %s", request.method, request.full_path)
                reply = internal_server_error()
        if reply.close:
            environ[CLOSE_AFTER_KEY] = reply.status
        write = start_response(status_line(reply.status), reply.headers)
        if record is not None:
            record.status = reply.status
        if callable(reply.body):
            chunks = reply.body(write)
        else:
            chunks = iter((reply.body,) if reply.body else ())
        return self._sent(chunks, request, reply, record)

    def _hang_while_switched_on(self) -> None:
        """``hang_all``: the request was read; it is answered only once the switch is off."""
        while self.faults.hang_all:
            if self.stopping.wait(HANG_POLL):
                raise ConnectionAbortedError("the emulator is stopping")

    def _sent(
        self,
        chunks: Iterator[bytes],
        request: Request,
        reply: Reply,
        record: RequestRecord | None,
    ) -> Iterator[bytes]:
        """Pass the body through, keeping the record up to date.

        The record is completed (and the log line written) just *before* the
        last byte of the Content-Length is handed over, so whoever has read the
        whole response finds it complete. A cut or failed body completes it
        when it ends, which is before the server closes the connection.
        """
        started = time.monotonic()
        length = _content_length(reply.headers)
        has_body = request.method != "HEAD"  # the server drops a HEAD's body
        handed = 0
        done = False

        def finish() -> None:
            nonlocal done
            if done:
                return
            done = True
            if record is not None:
                record.finished_at = time.time()
            _log_response(request, reply, handed if has_body else 0, started)

        try:
            for chunk in chunks:
                if record is not None:
                    self.loop.pass_through()  # a blocked loop stalls the streams too
                handed += len(chunk)
                if record is not None and has_body:
                    record.bytes_sent = handed
                if length is not None and handed >= length:
                    finish()
                yield chunk
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            finish()

    # --- routing ---------------------------------------------------------

    def _dispatch(self, request: Request) -> Reply:
        route = _match(request.path)
        if route is None:
            return detail(404, "Not Found")
        name, params = route
        method = request.method
        if name == "login":
            allowed = "POST"
            if method == "POST":
                self.stats.count("logins")
        else:
            allowed = "GET"
            if method in {"GET", "HEAD"}:
                self.stats.count(f"{name}_requests")
        if method != allowed:
            return detail(405, "Method Not Allowed", [("Allow", allowed)])
        faults = self.faults.snapshot()
        if name == "login":
            return self._login(request, faults)
        if name == "listing":
            return self._listing(request, faults, **params)
        if name == "presigned":
            return self._presigned(request, faults, **params)
        return self._object(request, faults, **params)

    # --- auth ------------------------------------------------------------

    def _login(self, request: Request, faults: Faults) -> Reply:
        payload, problem = _login_body(request.get_data())
        if problem is not None:
            return json_reply(422, {"detail": problem})
        email = payload["email"].strip().lower()
        if email != self.account.email or payload["password"] != self.account.password:
            return detail(401, "Invalid credentials")
        token = self.tokens.issue(self.account.user_id, faults.token_lifetime)
        return json_reply(200, {"access_token": token, "token_type": "bearer"})

    def _authenticate(self, request: Request) -> Reply | None:
        """FastAPI's HTTPBearer (403s), then DCS's token check (401s)."""
        authorization = request.headers.get("Authorization")
        scheme, _, credentials = (authorization or "").partition(" ")
        if not (authorization and scheme and credentials):
            return detail(403, "Not authenticated")
        if scheme.lower() != "bearer":
            return detail(403, "Invalid authentication credentials")
        if (
            credentials.startswith("dcs_")
            or self.tokens.subject(credentials) != self.account.user_id
        ):
            return detail(401, "Invalid token")
        return None

    # --- storage ---------------------------------------------------------

    @contextmanager
    def _store_call(self, faults: Faults) -> Iterator[None]:
        """One (slow, possibly failing) trip to the object store, per the store switches."""
        with self.loop.blocked() if faults.store_blocks_loop else nullcontext():
            if faults.store_latency:
                self.stopping.wait(faults.store_latency)
            if faults.store_down:
                self.stopping.wait(faults.store_down_delay)
                raise StoreDown
            yield

    def _listing(self, request: Request, faults: Faults, publisher: str, book_name: str) -> Reply:
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        try:
            check_segment(publisher, "publisher")
            check_segment(book_name, "book_name")
        except InvalidPath as exc:
            return detail(400, exc.detail)
        try:
            with self._store_call(faults):
                tree = self.store.list_tree(book_prefix(publisher, book_name))
        except StoreDown:
            return internal_server_error()
        return json_reply(200, tree)

    def _object(self, request: Request, faults: Faults, publisher: str, book_name: str) -> Reply:
        if faults.stall_before_headers:
            time.sleep(faults.stall_before_headers)
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        found = self._look_up_object(request, faults, publisher, book_name)
        if isinstance(found, Reply):
            return found
        return self._object_reply(request, faults, found)

    def _look_up_object(
        self, request: Request, faults: Faults, publisher: str, book_name: str
    ) -> ObjectInfo | Reply:
        """The requested object's metadata, or the error DCS answers instead."""
        paths = request.args.getlist("path")
        if not paths:
            return json_reply(422, {"detail": [_missing(["query", "path"], None)]})
        path = _object_path(publisher, book_name, paths[-1])
        if not isinstance(path, str):
            return path
        if faults.status is not None:
            return _fault_status(faults.status)
        try:
            with self._store_call(faults):
                return self.store.head(object_key(publisher, book_name, path))
        except StoreDown:
            logger.warning("the object store is down (store_down): 500, as DCS does")
            return internal_server_error()
        except ObjectNotFound:
            return detail(404, "File not found")
        except OSError:
            logger.exception("object lookup failed")
            return detail(502, "Unable to load object metadata")

    def _object_reply(self, request: Request, faults: Faults, info: ObjectInfo) -> Reply:
        """The object (or the asked range of it), a 304, or why it cannot be served."""
        range_header = None if faults.ignore_range else request.headers.get("Range")
        try:
            byte_range = resolve_range(range_header, info.size)
        except RangeNotSatisfiable as exc:
            return detail(416, exc.detail, [("Content-Range", f"bytes */{info.size}")])
        if byte_range is None and _etag_matches(request.headers.get("If-None-Match"), info.etag):
            return not_modified(info.etag)
        try:
            info.basename.encode("latin-1")
        except UnicodeEncodeError:
            logger.warning("Content-Disposition cannot carry %r: 500, as DCS does", info.basename)
            return internal_server_error()

        start, end = (
            (0, info.size - 1) if byte_range is None else (byte_range.start, byte_range.end)
        )
        headers = _object_headers(info, start, end)
        if byte_range is None:
            return Reply(200, headers, self._body(info, start, end, faults))
        shift = 1 if faults.wrong_content_range else 0
        headers.append(("Content-Range", f"bytes {start + shift}-{end + shift}/{info.size}"))
        return Reply(206, headers, self._body(info, start, end, faults))

    def _presigned(self, request: Request, faults: Faults, publisher: str, book_name: str) -> Reply:
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        if not self.account.admin:
            return detail(403, ADMIN_REQUIRED)
        paths = request.args.getlist("path")
        problems = [] if paths else [_missing(["query", "path"], None)]
        expires, problem = _expires(request.args.getlist("expires"))
        if problem is not None:
            problems.append(problem)
        if problems:
            return json_reply(422, {"detail": problems})
        path = _object_path(publisher, book_name, paths[-1])
        if not isinstance(path, str):
            return path
        key = object_key(publisher, book_name, path)
        try:
            with self._store_call(faults):
                if self.mirror is None:
                    raise StoreError("no S3 endpoint: the emulator cannot presign")
                url = self.mirror.presign(self.store.head(key), expires)
        except StoreDown:
            logger.warning("the object store is down (store_down): 500, as DCS does")
            return internal_server_error()
        except ObjectNotFound:
            return detail(404, "File not found")
        except (StoreError, OSError) as exc:
            logger.warning("presigned %s: %s", key, exc)
            return detail(502, "Unable to verify object")
        return json_reply(200, {"url": url, "expires_in": expires})

    def _body(self, info: ObjectInfo, start: int, end: int, faults: Faults) -> StreamBody:
        def body(write: Write) -> Iterator[bytes]:
            chunks = self.store.read(info, start, end)
            try:
                yield from faulty_body(chunks, end - start + 1, faults, write)
            finally:
                chunks.close()

        return body


def faulty_body(
    chunks: Iterable[bytes], total: int, faults: Faults, write: Write
) -> Iterator[bytes]:
    """The body chunks, cut short and/or stalled as the faults say.

    A cut simply stops early: the server then sees fewer bytes than the
    Content-Length it sent and closes the connection.
    """
    limit = total if faults.cut_after_bytes is None else min(total, faults.cut_after_bytes)
    stall = faults.stall_after_bytes
    if limit == 0 or (stall is not None and stall[0] == 0):
        write(b"")  # the headers go out before the stall or the cut
    sent = 0
    for chunk in chunks:
        while chunk:
            if stall is not None and sent >= stall[0]:
                time.sleep(stall[1])
                stall = None
            if sent >= limit:
                return
            take = min(len(chunk), limit - sent)
            if stall is not None:
                take = min(take, stall[0] - sent)
            yield chunk[:take]
            sent += take
            chunk = chunk[take:]
    if stall is not None and sent >= stall[0]:
        time.sleep(stall[1])


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    return next((int(v) for k, v in headers if k.lower() == "content-length"), None)


def _log_response(request: Request, reply: Reply, sent: int, started: float) -> None:
    """The one log line of a response, once its body was handed over (or ended)."""
    range_header = request.headers.get("Range")
    logger.info(
        "%s %s%s -> %d, %d bytes in %.1f ms",
        request.method,
        request.full_path.rstrip("?"),
        f" (Range: {range_header})" if range_header is not None else "",
        reply.status,
        sent,
        (time.monotonic() - started) * 1000,
    )


def _object_headers(info: ObjectInfo, start: int, end: int) -> list[tuple[str, str]]:
    """The headers of the bytes ``start``-``end`` of an object (but a 206's Content-Range)."""
    return [
        ("Content-Type", info.content_type),
        ("Content-Length", str(end - start + 1)),
        ("Accept-Ranges", "bytes"),
        ("ETag", f'"{info.etag}"'),
        ("Content-Disposition", f'inline; filename="{info.basename}"'),
        ("Cache-Control", cache_control_for(info.content_type)),
    ]


def record_request(stats: Stats, request: Request, environ: dict[str, Any]) -> RequestRecord:
    """Log one request in ``stats`` as it starts; the caller completes the record."""
    connection = environ.get(CONNECTION_KEY)
    record = RequestRecord(
        method=request.method,
        path=request.path,
        query_string=request.query_string.decode("latin-1"),
        query={name: values[-1] for name, values in request.args.lists()},
        headers=CaseInsensitiveDict(request.headers.items()),
        started_at=time.time(),
        client=f"{request.remote_addr}:{environ.get('REMOTE_PORT', '')}",
        connection_id=connection.id if connection is not None else 0,
    )
    stats.request_started(record, connection)
    return record


def not_modified(etag: str) -> Reply:
    """DCS's 304: the body it tries to send makes uvicorn close the connection."""
    return Reply(
        304,
        [
            ("ETag", f'"{etag}"'),
            ("Cache-Control", "public, max-age=86400"),
            ("Content-Type", "application/json"),
        ],
        close=True,
    )


#: the 403 detail for a non-admin token on the presigned endpoint (the emulator's wording)
ADMIN_REQUIRED = "Admin privileges required"

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")


def _expires(values: list[str]) -> tuple[int, dict[str, Any] | None]:
    """``expires`` validated as FastAPI/pydantic would: (seconds, None) or (_, 422 item)."""
    if not values:
        return EXPIRES_DEFAULT, None
    raw = values[-1]
    loc = ["query", "expires"]
    if not _INTEGER.fullmatch(raw):
        return 0, {
            "type": "int_parsing",
            "loc": loc,
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "input": raw,
        }
    seconds = int(raw)
    if seconds < EXPIRES_MIN:
        return seconds, {
            "type": "greater_than_equal",
            "loc": loc,
            "msg": f"Input should be greater than or equal to {EXPIRES_MIN}",
            "input": raw,
            "ctx": {"ge": EXPIRES_MIN},
        }
    if seconds > EXPIRES_MAX:
        return seconds, {
            "type": "less_than_equal",
            "loc": loc,
            "msg": f"Input should be less than or equal to {EXPIRES_MAX}",
            "input": raw,
            "ctx": {"le": EXPIRES_MAX},
        }
    return seconds, None


def _match(path: str) -> tuple[str, dict[str, str]] | None:
    if path == "/auth/login":
        return "login", {}
    parts = path.split("/")
    if len(parts) in {5, 6} and parts[1:3] == ["storage", "books"] and parts[3] and parts[4]:
        params = {"publisher": parts[3], "book_name": parts[4]}
        if len(parts) == 5:
            return "listing", params
        if parts[5] in {"object", "presigned"}:
            return parts[5], params
    return None


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """DCS's If-None-Match: plain equality after stripping quotes (no W/, lists or *)."""
    return if_none_match is not None and if_none_match.strip('"') == etag


def _fault_status(status: int) -> Reply:
    if status == 500:
        return internal_server_error()
    if status == 502:
        return detail(502, "Unable to load object metadata")
    if status == 404:
        return detail(404, "File not found")
    try:
        message = HTTPStatus(status).phrase
    except ValueError:
        message = "Error"
    return detail(status, message)


def _missing(loc: list[Any], given: Any) -> dict[str, Any]:
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": given}


def _login_body(raw: bytes) -> tuple[dict[str, str], list[dict[str, Any]] | None]:
    """Validate the login JSON like FastAPI + pydantic; (payload, None) or (_, 422 details)."""
    if not raw.strip():
        return {}, [_missing(["body"], None)]
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        position = getattr(exc, "pos", 0)
        error = getattr(exc, "msg", str(exc))
        return {}, [
            {
                "type": "json_invalid",
                "loc": ["body", position],
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": error},
            }
        ]
    if not isinstance(payload, dict):
        return {}, [
            {
                "type": "model_attributes_type",
                "loc": ["body"],
                "msg": "Input should be a valid dictionary or object to extract fields from",
                "input": payload,
            }
        ]
    problems = []
    for field in ("email", "password"):
        if field not in payload:
            problems.append(_missing(["body", field], payload))
        elif not isinstance(payload[field], str):
            problems.append(
                {
                    "type": "string_type",
                    "loc": ["body", field],
                    "msg": "Input should be a valid string",
                    "input": payload[field],
                }
            )
    return payload, problems or None


def _object_path(publisher: str, book_name: str, raw_path: str) -> str | Reply:
    """The normalised object path, or DCS's 400 for a bad segment or path."""
    try:
        check_segment(publisher, "publisher")
        check_segment(book_name, "book_name")
        return normalize_object_path(raw_path)
    except InvalidPath as exc:
        return detail(400, exc.detail)
