"""``python -m dcs_emulator --root DIR --port 8081``: serve a folder as DCS."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from .server import DEFAULT_EMAIL, DEFAULT_PASSWORD, DEFAULT_TOKEN_LIFETIME, Emulator
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
    return parser.parse_args(argv)


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
    )
    signal.signal(signal.SIGTERM, _interrupt)
    logger.info("serving %s as DCS on %s", args.root, emulator.base_url)
    with contextlib.suppress(KeyboardInterrupt):
        emulator.serve_forever()
    logger.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
