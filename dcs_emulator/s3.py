"""The object store behind presigned URLs: the emulator's folder, mirrored into S3.

DCS signs presigned GET URLs for its object store's *external* endpoint. Here
the store is a real S3 implementation reached at ``--s3-endpoint`` (moto's
server mode in the tests), and the external endpoint is a small gateway the
emulator runs in front of it (:class:`StoreGateway`). moto serves any request
whatever its signature, expiry or method; the gateway checks those as S3 does,
with botocore's own SigV4 signer, refuses what S3 refuses, and passes the rest
through untouched: status, Range handling, ETag, Last-Modified and body all
come from the store. Unlike DCS, it keeps connections alive long.

:class:`S3Mirror` uploads the folder at start (large files in parts, as DCS's
boto3 uploads do, so the store's ETags equal the emulator's), re-uploads a file
that changed when a URL is asked for it, and signs the URLs.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode
from xml.sax.saxutils import escape

import boto3
import urllib3
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError
from werkzeug.wrappers import Request

from .app import StoreError, record_request, status_line
from .stats import Stats
from .store import (
    CHUNK_SIZE,
    MULTIPART_THRESHOLD,
    PART_SIZE,
    STORED_TYPE,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
)

logger = logging.getLogger("dcs_emulator")

DEFAULT_BUCKET = "dcs"
DEFAULT_REGION = "us-east-1"
#: moto accepts any credentials; a real store needs its own (constructor arguments)
DEFAULT_ACCESS_KEY = "dcs-emulator"
DEFAULT_SECRET_KEY = "dcs-emulator-secret-key"

#: DCS's boto3 uploads: above the threshold, in parts of PART_SIZE (see store.py)
TRANSFER = TransferConfig(
    multipart_threshold=MULTIPART_THRESHOLD + 1, multipart_chunksize=PART_SIZE, use_threads=False
)
AUTH_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)
MAX_EXPIRES = 604800  # SigV4: a week
#: not forwarded to the store, either way
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "authorization",
        "server",
        "date",
    }
)


def _client(endpoint: str, region: str, access_key: str, secret_key: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1},
            connect_timeout=5,
            read_timeout=30,
        ),
    )


class S3Mirror:
    """The folder's files as objects of one bucket, with the same keys."""

    def __init__(
        self,
        store: ObjectStore,
        endpoint: str,
        bucket: str = DEFAULT_BUCKET,
        *,
        region: str = DEFAULT_REGION,
        access_key: str = DEFAULT_ACCESS_KEY,
        secret_key: str = DEFAULT_SECRET_KEY,
    ) -> None:
        self.store = store
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self.region = region
        self.credentials = Credentials(access_key, secret_key)
        self.client = _client(self.endpoint, region, access_key, secret_key)
        self._signer = self.client  # until the gateway's address is known
        self._uploaded: dict[str, tuple[int, int, int]] = {}
        self._lock = threading.Lock()

    def sign_for(self, public_endpoint: str) -> None:
        """Sign URLs for ``public_endpoint`` (the gateway) rather than the store itself."""
        self._signer = _client(
            public_endpoint,
            self.region,
            self.credentials.access_key,
            self.credentials.secret_key,
        )

    def upload_all(self) -> int:
        """Create the bucket if needed and upload every file; the number uploaded."""
        try:
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError:
                self.client.create_bucket(Bucket=self.bucket)
            count = 0
            with self._lock:
                for key, file in self.store.files():
                    stat = file.stat()
                    self._upload(key, file, (stat.st_size, stat.st_mtime_ns, stat.st_ino))
                    count += 1
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"cannot upload to {self.endpoint}: {exc}") from exc
        return count

    def presign(self, info: ObjectInfo, expires: int) -> str:
        """A presigned GET URL for the object, after making sure the store has it as it is."""
        try:
            with self._lock:
                if self._uploaded.get(info.key) != info.identity:
                    self._upload(info.key, info.file, info.identity)
            self.client.head_object(Bucket=self.bucket, Key=info.key)
            return self._signer.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": info.key},
                ExpiresIn=expires,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey"}:
                raise ObjectNotFound(info.key) from exc
            raise StoreError(str(exc)) from exc
        except BotoCoreError as exc:
            raise StoreError(str(exc)) from exc

    def _upload(self, key: str, file: Any, identity: tuple[int, int, int]) -> None:
        self.client.upload_file(
            str(file), self.bucket, key, ExtraArgs={"ContentType": STORED_TYPE}, Config=TRANSFER
        )
        self._uploaded[key] = identity


#: what S3 answers when it refuses a presigned request: (status, code, message)
Refusal = tuple[int, str, str]


def check_presigned(
    method: str,
    host: str,
    raw_path: str,
    raw_query: str,
    credentials: Credentials,
    now: float | None = None,
) -> Refusal | None:
    """None if S3 would serve this presigned request, else (status, code, message).

    The signature is recomputed with botocore's signer over the method, the
    host, the raw path and the other query parameters, as S3 does: a URL
    signed for GET is refused for HEAD, an edited key or parameter is refused,
    and so is a URL past ``X-Amz-Date + X-Amz-Expires``.
    """
    params = parse_qsl(raw_query, keep_blank_values=True)
    given = dict(params)
    refusal = _auth_params_refusal(given)
    if refusal is not None:
        return refusal
    scope = given["X-Amz-Credential"].split("/")
    refusal = _credential_refusal(scope, credentials)
    if refusal is not None:
        return refusal
    try:
        signed_at = dt.datetime.strptime(given["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=dt.UTC
        )
        expires = int(given["X-Amz-Expires"])
    except ValueError:
        return 400, "AuthorizationQueryParametersError", "Invalid X-Amz-Date or X-Amz-Expires."
    if not 0 <= expires <= MAX_EXPIRES:
        return (
            400,
            "AuthorizationQueryParametersError",
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        )
    if (time.time() if now is None else now) > signed_at.timestamp() + expires:
        return 403, "AccessDenied", "Request has expired"
    rest = [(k, v) for k, v in params if k not in AUTH_PARAMS]
    computed = _signature(method, host, raw_path, rest, credentials, scope[2], given, expires)
    if computed != given["X-Amz-Signature"]:
        return (
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
    return None


def _auth_params_refusal(given: dict[str, str]) -> Refusal | None:
    """Why the query's authentication parameters are missing or not SigV4 (None: usable)."""
    if not any(name in given for name in AUTH_PARAMS):
        return 403, "AccessDenied", "Access Denied"
    if any(name not in given for name in AUTH_PARAMS) or (
        given["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256"
    ):
        return (
            400,
            "AuthorizationQueryParametersError",
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters.",
        )
    return None


def _credential_refusal(scope: list[str], credentials: Credentials) -> Refusal | None:
    """Why the X-Amz-Credential scope is malformed or not our key's (None: it is ours)."""
    if len(scope) != 5 or scope[3:] != ["s3", "aws4_request"]:
        return 400, "AuthorizationQueryParametersError", "Error parsing the X-Amz-Credential."
    if scope[0] != credentials.access_key:
        return (
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    return None


def _signature(
    method: str,
    host: str,
    raw_path: str,
    rest: list[tuple[str, str]],
    credentials: Credentials,
    region: str,
    given: dict[str, str],
    expires: int,
) -> str:
    """The SigV4 query signature of the request, over the non-authentication parameters."""
    query = urlencode(rest, quote_via=quote)
    request = AWSRequest(
        method=method,
        url=f"http://{host}{raw_path}" + (f"?{query}" if query else ""),
        headers={"Host": host},
    )
    # add_auth() would sign for the current second: sign for the URL's own X-Amz-Date.
    auth = S3SigV4QueryAuth(credentials, "s3", region, expires=expires)
    request.context["timestamp"] = given["X-Amz-Date"]
    auth._modify_request_before_signing(request)
    return auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)


def s3_error(status: int, code: str, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    ).encode()
    return status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))], body


class StoreGateway:
    """WSGI: the store's external endpoint; checks presigned URLs, forwards the rest.

    Every request is logged in ``stats`` (a Stats of its own: ``request_count``,
    ``connections_opened``, the records with status and bytes).
    """

    def __init__(self, mirror: S3Mirror, stats: Stats) -> None:
        self.mirror = mirror
        self.stats = stats
        self.pool = urllib3.PoolManager(
            num_pools=2, maxsize=16, retries=False, timeout=urllib3.Timeout(connect=5, read=60)
        )

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Callable[[bytes], object]]
    ) -> Iterable[bytes]:
        request = Request(environ)
        record = record_request(self.stats, request, environ)
        raw_path, _, raw_query = environ.get("RAW_URI", request.full_path).partition("?")
        refusal = check_presigned(
            request.method,
            environ.get("HTTP_HOST", ""),
            raw_path,
            raw_query,
            self.mirror.credentials,
        )
        if refusal is not None:
            status, headers, body = s3_error(*refusal)
            logger.info("store %s %s -> %d %s", request.method, raw_path, status, refusal[1])
            record.status, record.finished_at = status, time.time()
            start_response(status_line(status), headers)
            return [body]
        return self._forward(request, raw_path, raw_query, start_response, record)

    def _forward(
        self,
        request: Request,
        raw_path: str,
        raw_query: str,
        start_response: Callable[..., Callable[[bytes], object]],
        record: Any,
    ) -> Iterator[bytes]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        url = f"{self.mirror.endpoint}{raw_path}" + (f"?{raw_query}" if raw_query else "")
        try:
            upstream = self.pool.request(
                request.method,
                url,
                headers=headers,
                preload_content=False,
                redirect=False,
                decode_content=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            logger.warning("store gateway: %s unreachable: %s", self.mirror.endpoint, exc)
            status, out, body = s3_error(503, "ServiceUnavailable", "The store is unreachable.")
            record.status, record.finished_at = status, time.time()
            start_response(status_line(status), out)
            yield body
            return
        passed = HOP_BY_HOP - {"content-length"}
        out = [(k, v) for k, v in upstream.headers.items() if k.lower() not in passed]
        record.status = upstream.status
        start_response(status_line(upstream.status), out)
        logger.info(
            "store %s %s (Range: %s) -> %d",
            request.method,
            raw_path,
            request.headers.get("Range"),
            upstream.status,
        )
        try:
            for chunk in upstream.stream(CHUNK_SIZE, decode_content=False):
                record.bytes_sent += len(chunk)
                yield chunk
        finally:
            record.finished_at = time.time()
            upstream.release_conn()
