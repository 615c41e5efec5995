"""The DCS HTTP API as a WSGI application (see docs/dcs-contract.md)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from requests.structures import CaseInsensitiveDict
from werkzeug.wrappers import Request

from .faults import Faults
from .paths import InvalidPath, book_prefix, check_segment, normalize_object_path, object_key
from .ranges import RangeNotSatisfiable, resolve_range
from .stats import RequestRecord, Stats
from .store import ObjectInfo, ObjectNotFound, ObjectStore, cache_control_for
from .tokens import TokenService

logger = logging.getLogger("dcs_emulator")

#: the server puts the request's ConnectionInfo under this environ key
CONNECTION_KEY = "dcs_emulator.connection"

Write = Callable[[bytes], object]
StreamBody = Callable[[Write], Iterator[bytes]]


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    #: bytes, or a function that gets the WSGI ``write`` (``write(b"")`` flushes
    #: the headers) and returns the body chunks
    body: bytes | StreamBody = b""


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
    """The plain-text 500 of DCS's outermost error handler."""
    body = b"Internal Server Error"
    return Reply(
        500,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        body,
    )


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


@dataclass(frozen=True)
class Account:
    """The one DCS user the emulator knows."""

    email: str
    password: str
    user_id: str = "1"


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
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.account = Account(account.email.strip().lower(), account.password, account.user_id)
        self.faults = faults
        self.stats = stats
        self.control = control

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Write]
    ) -> Iterable[bytes]:
        request = Request(environ)
        record = None
        if self.control is not None and request.path.startswith("/_emulator/"):
            reply = self.control(request)
        else:
            record = self._record(request, environ)
            try:
                reply = self._dispatch(request)
            except Exception:
                logger.exception("unexpected error on %s %s", request.method, request.full_path)
                reply = internal_server_error()
        write = start_response(status_line(reply.status), reply.headers)
        if record is not None:
            record.status = reply.status
        if callable(reply.body):
            chunks = reply.body(write)
        else:
            chunks = iter((reply.body,) if reply.body else ())
        return self._sent(chunks, request, reply, record)

    def _record(self, request: Request, environ: dict[str, Any]) -> RequestRecord:
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
        self.stats.request_started(record, connection)
        return record

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
        length = next((int(v) for k, v in reply.headers if k.lower() == "content-length"), None)
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
            range_header = request.headers.get("Range")
            logger.info(
                "%s %s%s -> %d, %d bytes in %.1f ms",
                request.method,
                request.full_path.rstrip("?"),
                f" (Range: {range_header})" if range_header is not None else "",
                reply.status,
                handed if has_body else 0,
                (time.monotonic() - started) * 1000,
            )

        try:
            for chunk in chunks:
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
            return self._listing(request, **params)
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

    def _listing(self, request: Request, publisher: str, book_name: str) -> Reply:
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        try:
            check_segment(publisher, "publisher")
            check_segment(book_name, "book_name")
        except InvalidPath as exc:
            return detail(400, exc.detail)
        return json_reply(200, self.store.list_tree(book_prefix(publisher, book_name)))

    def _object(self, request: Request, faults: Faults, publisher: str, book_name: str) -> Reply:
        if faults.stall_before_headers:
            time.sleep(faults.stall_before_headers)
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        paths = request.args.getlist("path")
        if not paths:
            return json_reply(422, {"detail": [_missing(["query", "path"], None)]})
        try:
            check_segment(publisher, "publisher")
            check_segment(book_name, "book_name")
            path = normalize_object_path(paths[-1])
        except InvalidPath as exc:
            return detail(400, exc.detail)
        if faults.status is not None:
            return _fault_status(faults.status)
        try:
            info = self.store.head(object_key(publisher, book_name, path))
        except ObjectNotFound:
            return detail(404, "File not found")
        except OSError:
            logger.exception("object lookup failed")
            return detail(502, "Unable to load object metadata")

        range_header = None if faults.ignore_range else request.headers.get("Range")
        try:
            byte_range = resolve_range(range_header, info.size)
        except RangeNotSatisfiable as exc:
            return detail(416, exc.detail, [("Content-Range", f"bytes */{info.size}")])
        cache_control = cache_control_for(info.content_type)
        if byte_range is None and _etag_matches(request.headers.get("If-None-Match"), info.etag):
            return Reply(304, [("ETag", f'"{info.etag}"'), ("Cache-Control", cache_control)])
        try:
            info.basename.encode("latin-1")
        except UnicodeEncodeError:
            logger.warning("Content-Disposition cannot carry %r: 500, as DCS does", info.basename)
            return internal_server_error()

        start, end = (
            (0, info.size - 1) if byte_range is None else (byte_range.start, byte_range.end)
        )
        headers = [
            ("Content-Type", info.content_type),
            ("Content-Length", str(end - start + 1)),
            ("Accept-Ranges", "bytes"),
            ("ETag", f'"{info.etag}"'),
            ("Content-Disposition", f'inline; filename="{info.basename}"'),
            ("Cache-Control", cache_control),
        ]
        if byte_range is None:
            return Reply(200, headers, self._body(info, start, end, faults))
        shift = 1 if faults.wrong_content_range else 0
        headers.append(("Content-Range", f"bytes {start + shift}-{end + shift}/{info.size}"))
        return Reply(206, headers, self._body(info, start, end, faults))

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


def _match(path: str) -> tuple[str, dict[str, str]] | None:
    if path == "/auth/login":
        return "login", {}
    parts = path.split("/")
    if len(parts) in {5, 6} and parts[1:3] == ["storage", "books"] and parts[3] and parts[4]:
        params = {"publisher": parts[3], "book_name": parts[4]}
        if len(parts) == 5:
            return "listing", params
        if parts[5] == "object":
            return "object", params
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
