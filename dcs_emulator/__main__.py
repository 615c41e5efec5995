"""``python -m dcs_emulator --root DIR --port 8081``: serve a folder as DCS."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from .server import (
    DEFAULT_EMAIL,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_PASSWORD,
    DEFAULT_TOKEN_LIFETIME,
    Emulator,
)
from .tokens import DEFAULT_SECRET

logger = logging.getLogger("dcs_emulator")


def _directory(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is not a directory")
    return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m dcs_emulator",
        description="Serve {root}/{publisher}/books/{book}/{path} as Dream Central Storage.",
    )
    parser.add_argument("--root", type=_directory, required=True, help="the object store folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--email", default=DEFAULT_EMAIL)
    parser.add_argument("--password", default=DEFAULT_PASSWORD)
    parser.add_argument(
        "--token-lifetime", type=float, default=DEFAULT_TOKEN_LIFETIME, help="seconds"
    )
    parser.add_argument("--secret", default=DEFAULT_SECRET, help="the JWT signing key")
    parser.add_argument(
        "--admin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the account is a DCS admin, which the presigned endpoint requires (default: yes)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=DEFAULT_IDLE_TIMEOUT,
        help="close keep-alive connections idle this many seconds, as uvicorn does "
        f"(default {DEFAULT_IDLE_TIMEOUT:g}; 0: only after 120 s)",
    )
    parser.add_argument(
        "--s3-endpoint",
        help="an S3 store (e.g. `python -m moto.server -p 5000`) to upload the root to and "
        "presign URLs into; without it /presigned answers 502",
    )
    parser.add_argument("--s3-bucket", default="dcs", help="the bucket (default dcs)")
    parser.add_argument(
        "--store-port", type=int, default=0, help="the presigned URLs' gateway port (0: free)"
    )
    return parser.parse_args(argv)


def _seconds(value: str) -> float:
    seconds = float(value)
    if seconds < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return seconds


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    emulator = Emulator(
        args.root,
        email=args.email,
        password=args.password,
        token_lifetime=args.token_lifetime,
        host=args.host,
        port=args.port,
        secret=args.secret,
        admin=args.admin,
        idle_timeout=args.idle_timeout or None,
        s3_endpoint=args.s3_endpoint,
        s3_bucket=args.s3_bucket,
        store_port=args.store_port,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    logger.info("serving %s as DCS on %s", args.root, emulator.base_url)
    if emulator.store_url:
        logger.info("presigned URLs: %s, in front of %s", emulator.store_url, args.s3_endpoint)
    with contextlib.suppress(KeyboardInterrupt):
        emulator.serve_forever()
    logger.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
