"""Serving the emulator: a threaded HTTP/1.1 server with keep-alive.

Werkzeug's ``WSGIRequestHandler.run_wsgi`` (3.1) always answers
``Connection: close`` and drains the socket, so it cannot keep a connection
alive whatever ``protocol_version`` says. :class:`KeepAliveHandler` keeps
werkzeug's server, threading and environ building, and replaces only that
method: the response goes straight to the socket (no buffering, so stalls and
cuts happen exactly where the app says), the connection stays open when the
response is complete and its length known, and it is closed when the app sent
fewer body bytes than its Content-Length (which is how a cut body is produced).

Like uvicorn (DCS's server, default settings) it closes a connection that
sat idle for ``idle_timeout`` seconds (5) between requests, closes the
connection after the responses the app marks (DCS's 304s and 500s) without
announcing it, and answers an HTTP/1.0 request with ``Connection: close``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wsgi import LimitedStream

from .app import CLOSE_AFTER_KEY, CONNECTION_KEY, Account, DCSApp
from .control import Control
from .faults import Faults
from .stats import Stats
from .store import ObjectStore
from .tokens import DEFAULT_SECRET, TokenService

if TYPE_CHECKING:
    from .s3 import S3Mirror

logger = logging.getLogger("dcs_emulator")

DEFAULT_EMAIL = "lms@dcs.local"
DEFAULT_PASSWORD = "dcs-dev-password"
DEFAULT_TOKEN_LIFETIME = 1800
#: uvicorn's default ``timeout_keep_alive``: DCS closes a connection idle this long
DEFAULT_IDLE_TIMEOUT = 5.0
#: seconds one read or send may block once a request has started (and the idle
#: limit of the store gateway, whose keep-alive is long)
IO_TIMEOUT = 120
MAX_DRAIN = 1024 * 1024  # unread request body we read away to keep a connection


class _Response:
    def __init__(self) -> None:
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.headers_sent = False
        self.has_body = True
        self.content_length: int | None = None
        self.body_bytes = 0


class KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dcs-emulator"  # type: ignore[assignment]
    timeout = IO_TIMEOUT
    server: EmulatorServer

    def setup(self) -> None:
        super().setup()
        peer = f"{self.client_address[0]}:{self.client_address[1]}"
        self.connection_info = self.server.stats.connection_accepted(peer)

    def handle_one_request(self) -> None:
        if not self._wait_for_request():
            self.close_connection = True
            return
        self.connection.settimeout(IO_TIMEOUT)
        super().handle_one_request()

    def _wait_for_request(self) -> bool:
        """Wait for the next request's first byte, up to the idle timeout; False: close.

        As in uvicorn, the keep-alive timer starts when a response is complete:
        a new connection waits for its first request up to ``IO_TIMEOUT``.
        """
        idle = self.server.idle_timeout
        first = self.connection_info.requests == 0
        self.connection.settimeout(IO_TIMEOUT if idle is None or first else idle)
        try:
            return bool(self.rfile.peek(1))  # buffered (pipelined) bytes count at once
        except TimeoutError:
            self.server.stats.count("idle_closes")
            return False
        except (OSError, ValueError):
            return False

    def run_wsgi(self) -> None:
        environ = self._prepare_environ()
        response = _Response()
        try:
            self._run_app(environ, response)
        except (ConnectionError, TimeoutError) as exc:
            self.close_connection = True
            self.connection_dropped(exc, environ)
            return
        except Exception:
            logger.exception("error serving %s %s", self.command, self.path)
            self._fail(environ, response)
        self._end_exchange(environ, response)

    def _prepare_environ(self) -> dict[str, Any]:
        """The request's WSGI environ (after a ``100 Continue`` if it expects one)."""
        if self.request_version == "HTTP/1.0":
            self.close_connection = True  # h11: no keep-alive for HTTP/1.0, whatever it asks
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        if not environ.get("wsgi.input_terminated"):
            try:
                length = max(0, int(environ.get("CONTENT_LENGTH") or 0))
            except ValueError:
                length, self.close_connection = 0, True
            environ["wsgi.input"] = LimitedStream(self.rfile, length)
        environ[CONNECTION_KEY] = self.connection_info
        return environ

    def _run_app(self, environ: dict[str, Any], response: _Response) -> None:
        """Call the app and send what it answers straight to the socket."""

        def write(data: bytes) -> None:
            self._write(response, data)

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info and response.headers_sent:
                raise exc_info[1].with_traceback(exc_info[2])
            response.status, response.headers = status, headers
            return write

        app_iter: Iterable[bytes] = self.server.app(environ, start_response)
        try:
            for chunk in app_iter:
                write(chunk)
            if not response.headers_sent:
                write(b"")
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()

    def _write(self, response: _Response, data: bytes) -> None:
        if not response.headers_sent:
            self._send_head(response)
        if data and response.has_body:
            self.wfile.write(data)
            response.body_bytes += len(data)

    def _fail(self, environ: dict[str, Any], response: _Response) -> None:
        """The app failed: a 500 if nothing was sent yet, else the connection is closed."""
        if response.headers_sent:
            self.close_connection = True
            return
        body = b"Internal Server Error"
        response.status = "500 Internal Server Error"
        response.headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
        ]
        with contextlib.suppress(OSError):
            self._write(response, body)
        environ[CLOSE_AFTER_KEY] = 500

    def _end_exchange(self, environ: dict[str, Any], response: _Response) -> None:
        """Close the connection if the response asks it, else read away the unread body."""
        if response.has_body and response.content_length != response.body_bytes:
            self.close_connection = True  # a cut body: the client sees a short read
        closed_after = environ.get(CLOSE_AFTER_KEY)
        if closed_after is not None and not self.close_connection:
            self.close_connection = True  # as uvicorn: closed, though not announced
            if closed_after in {304, 500}:
                self.server.stats.count(f"closes_after_{closed_after}")
        self.connection_info.requests += 1
        if not self.close_connection:
            self._drain_request_body(environ["wsgi.input"])

    def _send_head(self, response: _Response) -> None:
        assert response.status is not None, "write() before start_response()"
        code_text, _, reason = response.status.partition(" ")
        code = int(code_text)
        response.has_body = not (self.command == "HEAD" or code in {204, 304} or 100 <= code < 200)
        self.send_response(code, reason)
        for name, value in response.headers:
            if name.lower() == "content-length":
                response.content_length = int(value)
            self.send_header(name, value)
        if response.has_body and response.content_length is None:
            self.close_connection = True  # the body is delimited by the close
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        response.headers_sent = True

    def _drain_request_body(self, stream: Any) -> None:
        try:
            unread = 0
            while data := stream.read(64 * 1024):
                unread += len(data)
                if unread > MAX_DRAIN:
                    self.close_connection = True
                    return
        except (OSError, ValueError):
            self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The app logs each request itself, with more detail."""

    def log(self, type: str, message: str, *args: Any) -> None:
        level = logging.ERROR if type == "error" else logging.INFO
        logger.log(level, "%s: %s", self.address_string(), message % args if args else message)


class StoreHandler(KeepAliveHandler):
    server_version = "dcs-emulator-store"  # type: ignore[assignment]


class EmulatorServer(ThreadedWSGIServer):
    """Werkzeug's threaded server, one thread per connection, tracking open sockets.

    ``idle_timeout``: seconds a kept-alive connection may wait for its next
    request before the server closes it (None: ``IO_TIMEOUT``). Read for
    every wait, so it can be changed while the server runs.
    """

    def __init__(
        self,
        host: str,
        port: int,
        app: Any,
        stats: Stats,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        handler: type[KeepAliveHandler] = KeepAliveHandler,
    ) -> None:
        self.stats = stats
        self.idle_timeout = idle_timeout
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(host, port, app, handler=handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        # headers and body are separate sends: without this, Nagle + delayed ACKs
        # add ~40 ms to every small response on a kept-alive connection
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._open_lock:
            self._open.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class Emulator:
    """A running (or ready to run) DCS emulator over a folder of books.

    ``admin``: whether the account is a DCS admin (may ask for presigned URLs).
    ``idle_timeout``: seconds before an idle keep-alive connection is closed
    (uvicorn's 5 by default; None: only after ``IO_TIMEOUT``).
    ``s3_endpoint``: an S3 store (moto's server in the tests) that the folder
    is uploaded to, into ``s3_bucket``; presigned URLs then point at a gateway
    in front of it (``store_url``). Without it, the presigned endpoint answers
    502 "Unable to verify object".
    """

    def __init__(
        self,
        root: Path,
        *,
        email: str = DEFAULT_EMAIL,
        password: str = DEFAULT_PASSWORD,
        token_lifetime: float = DEFAULT_TOKEN_LIFETIME,
        host: str = "127.0.0.1",
        port: int = 0,
        secret: str = DEFAULT_SECRET,
        admin: bool = True,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        s3_endpoint: str | None = None,
        s3_bucket: str | None = None,
        s3_access_key: str | None = None,
        s3_secret_key: str | None = None,
        store_port: int = 0,
    ) -> None:
        self.root = Path(root)
        self.email = email
        self.password = password
        self.faults = Faults()
        self.stats = Stats()
        #: the store gateway's requests (presigned URLs used), when there is one
        self.store_stats = Stats()
        self.tokens = TokenService(secret, token_lifetime)
        self._admin = admin
        self._idle_timeout = idle_timeout
        self._stopping = threading.Event()
        store = ObjectStore(self.root)
        self.mirror = None
        self._store_server: EmulatorServer | None = None
        if s3_endpoint:
            self.mirror = self._mirror(store, s3_endpoint, s3_bucket, s3_access_key, s3_secret_key)
            self._store_server = self._store_gateway(self.mirror, s3_endpoint, host, store_port)
        self.app = self._build_app(store, Account(email, password, admin=admin))
        self._server = EmulatorServer(host, port, self.app, self.stats, idle_timeout)
        self.host = host
        self.port: int = self._server.port
        self._thread: threading.Thread | None = None
        self._store_thread: threading.Thread | None = None

    def _store_gateway(
        self, mirror: S3Mirror, endpoint: str, host: str, port: int
    ) -> EmulatorServer:
        """The (not yet started) gateway in front of the S3 store, once the folder is uploaded."""
        from .s3 import StoreGateway  # boto3 is imported only when a store is used

        server = EmulatorServer(
            host,
            port,
            StoreGateway(mirror, self.store_stats),
            self.store_stats,
            idle_timeout=None,
            handler=StoreHandler,
        )
        mirror.sign_for(_url(host, server.port))
        try:
            count = mirror.upload_all()
        except Exception:
            server.server_close()
            raise
        logger.info("uploaded %d files to %s", count, f"{endpoint}/{mirror.bucket}")
        return server

    def _build_app(self, store: ObjectStore, account: Account) -> DCSApp:
        control = Control(
            self.faults,
            self.stats,
            self.reset,
            self.expire_tokens,
            self.store_stats if self.mirror is not None else None,
        )
        return DCSApp(
            store,
            self.tokens,
            account,
            self.faults,
            self.stats,
            control,
            mirror=self.mirror,
            stopping=self._stopping,
        )

    @staticmethod
    def _mirror(
        store: ObjectStore,
        endpoint: str,
        bucket: str | None,
        access_key: str | None,
        secret_key: str | None,
    ) -> S3Mirror:
        from .s3 import DEFAULT_ACCESS_KEY, DEFAULT_BUCKET, DEFAULT_SECRET_KEY, S3Mirror

        return S3Mirror(
            store,
            endpoint,
            bucket or DEFAULT_BUCKET,
            access_key=access_key or DEFAULT_ACCESS_KEY,
            secret_key=secret_key or DEFAULT_SECRET_KEY,
        )

    @property
    def base_url(self) -> str:
        return _url(self.host, self.port)

    @property
    def store_url(self) -> str | None:
        """The object store's external endpoint (the gateway presigned URLs point at)."""
        return None if self._store_server is None else _url(self.host, self._store_server.port)

    @property
    def admin(self) -> bool:
        """Whether the account is a DCS admin; settable while running (reset() restores it)."""
        return self.app.account.admin

    @admin.setter
    def admin(self, value: bool) -> None:
        self.app.account = replace(self.app.account, admin=value)

    @property
    def idle_timeout(self) -> float | None:
        """Seconds an idle keep-alive connection lives; settable (reset() restores it)."""
        return self._server.idle_timeout

    @idle_timeout.setter
    def idle_timeout(self, value: float | None) -> None:
        self._server.idle_timeout = value

    @property
    def secret(self) -> str:
        """The key tokens are signed with right now (it changes on expire_tokens)."""
        return self.tokens.secret

    def issue_token(self, subject: str = "1", lifetime: float | None = None) -> str:
        """A token as a login would give (``sub`` "1" is the emulator's user)."""
        return self.tokens.issue(subject, lifetime)

    def reset(self) -> None:
        """Faults back to their defaults, counters to zero, request logs cleared,
        the admin flag and the idle timeout back to what the constructor said."""
        self.faults.reset()
        self.stats.reset()
        self.store_stats.reset()
        self.admin = self._admin
        self.idle_timeout = self._idle_timeout

    def expire_tokens(self) -> None:
        """Every token issued so far answers 401 "Invalid token" from now on."""
        self.tokens.revoke_all()

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` (or KeyboardInterrupt)."""
        if self._store_server is not None and self._store_thread is None:
            self._store_thread = threading.Thread(
                target=self._store_server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"dcs-emulator-store:{self._store_server.port}",
                daemon=True,
            )
            self._store_thread.start()
        try:
            self._server.serve_forever(poll_interval=0.05)
        finally:
            self._stopping.set()
            self._server.close_open_connections()

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self.serve_forever, name=f"dcs-emulator:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close the listening sockets and every open connection.

        Requests hung by ``hang_all`` or blocked by ``store_blocks_loop`` give up.
        """
        self._stopping.set()
        servers = ((self._server, self._thread), (self._store_server, self._store_thread))
        for server, thread in servers:
            if server is None:
                continue
            if thread is not None:
                server.shutdown()
                thread.join(timeout=5)
            server.server_close()
            server.close_open_connections()
        self._thread = self._store_thread = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run_in_thread(root: Path, **options: Any) -> Emulator:
    """Start an emulator on a background thread; ``port=0`` (the default) picks a free port.

    The options are `Emulator`'s: email, password, token_lifetime, host, port, secret,
    admin, idle_timeout, s3_endpoint, s3_bucket, s3_access_key, s3_secret_key, store_port.
    """
    return Emulator(root, **options).start()
