"""Serving the emulator: a threaded HTTP/1.1 server with keep-alive.

Werkzeug's ``WSGIRequestHandler.run_wsgi`` (3.1) always answers
``Connection: close`` and drains the socket, so it cannot keep a connection
alive whatever ``protocol_version`` says. :class:`KeepAliveHandler` keeps
werkzeug's server, threading and environ building, and replaces only that
method: the response goes straight to the socket (no buffering, so stalls and
cuts happen exactly where the app says), the connection stays open when the
response is complete and its length known, and it is closed when the app sent
fewer body bytes than its Content-Length (which is how a cut body is produced).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Self

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wsgi import LimitedStream

from .app import CONNECTION_KEY, Account, DCSApp
from .control import Control
from .faults import Faults
from .stats import Stats
from .store import ObjectStore
from .tokens import DEFAULT_SECRET, TokenService

logger = logging.getLogger("dcs_emulator")

DEFAULT_EMAIL = "lms@dcs.local"
DEFAULT_PASSWORD = "dcs-dev-password"
DEFAULT_TOKEN_LIFETIME = 1800
IDLE_TIMEOUT = 120  # seconds a connection may sit idle (or a send may block)
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
    timeout = IDLE_TIMEOUT
    server: EmulatorServer

    def setup(self) -> None:
        super().setup()
        peer = f"{self.client_address[0]}:{self.client_address[1]}"
        self.connection_info = self.server.stats.connection_accepted(peer)

    def run_wsgi(self) -> None:
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
        response = _Response()

        def write(data: bytes) -> None:
            if not response.headers_sent:
                self._send_head(response)
            if data and response.has_body:
                self.wfile.write(data)
                response.body_bytes += len(data)

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info and response.headers_sent:
                raise exc_info[1].with_traceback(exc_info[2])
            response.status, response.headers = status, headers
            return write

        try:
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
        except (ConnectionError, TimeoutError) as exc:
            self.close_connection = True
            self.connection_dropped(exc, environ)
            return
        except Exception:
            logger.exception("error serving %s %s", self.command, self.path)
            self.close_connection = True
            if not response.headers_sent:
                body = b"Internal Server Error"
                response.status = "500 Internal Server Error"
                response.headers = [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                ]
                write(body)
            return
        if response.has_body and response.content_length != response.body_bytes:
            self.close_connection = True  # a cut body: the client sees a short read
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
        elif self.request_version == "HTTP/1.0":
            self.send_header("Connection", "keep-alive")
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


class EmulatorServer(ThreadedWSGIServer):
    """Werkzeug's threaded server, one thread per connection, tracking open sockets."""

    def __init__(self, host: str, port: int, app: Any, stats: Stats) -> None:
        self.stats = stats
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(host, port, app, handler=KeepAliveHandler)

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
    """A running (or ready to run) DCS emulator over a folder of books."""

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
    ) -> None:
        self.root = Path(root)
        self.email = email
        self.password = password
        self.faults = Faults()
        self.stats = Stats()
        self.tokens = TokenService(secret, token_lifetime)
        control = Control(self.faults, self.stats, self.reset, self.expire_tokens)
        self.app = DCSApp(
            ObjectStore(self.root),
            self.tokens,
            Account(email, password),
            self.faults,
            self.stats,
            control,
        )
        self._server = EmulatorServer(host, port, self.app, self.stats)
        self.host = host
        self.port: int = self._server.port
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def secret(self) -> str:
        """The key tokens are signed with right now (it changes on expire_tokens)."""
        return self.tokens.secret

    def issue_token(self, subject: str = "1", lifetime: float | None = None) -> str:
        """A token as a login would give (``sub`` "1" is the emulator's user)."""
        return self.tokens.issue(subject, lifetime)

    def reset(self) -> None:
        """Faults back to their defaults, counters to zero, request log cleared."""
        self.faults.reset()
        self.stats.reset()

    def expire_tokens(self) -> None:
        """Every token issued so far answers 401 "Invalid token" from now on."""
        self.tokens.revoke_all()

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` (or KeyboardInterrupt)."""
        try:
            self._server.serve_forever(poll_interval=0.05)
        finally:
            self._server.close_open_connections()

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self.serve_forever, name=f"dcs-emulator:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close the listening socket and every open connection."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        self._server.close_open_connections()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_in_thread(root: Path, **options: Any) -> Emulator:
    """Start an emulator on a background thread; ``port=0`` (the default) picks a free port.

    The options are `Emulator`'s: email, password, token_lifetime, host, port, secret.
    """
    return Emulator(root, **options).start()
