"""A local emulator of Dream Central Storage (DCS), quirks included.

    from dcs_emulator import run_in_thread, Faults
    emu = run_in_thread(root)          # {root}/{publisher}/books/{book}/{path}
    emu.base_url, emu.faults, emu.stats, emu.reset(), emu.expire_tokens(), emu.stop()
    emu.idle_timeout, emu.admin        # 5 s like uvicorn; the account is a DCS admin
    run_in_thread(root, s3_endpoint=moto_url)  # presigned URLs into moto: emu.store_url

Or out of process: ``python -m dcs_emulator --root DIR --port 8081``. See docs/dcs.md.
"""

from .faults import Faults
from .server import (
    DEFAULT_EMAIL,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_PASSWORD,
    DEFAULT_TOKEN_LIFETIME,
    Emulator,
    run_in_thread,
)
from .stats import RequestRecord, Stats

__all__ = [
    "DEFAULT_EMAIL",
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_PASSWORD",
    "DEFAULT_TOKEN_LIFETIME",
    "Emulator",
    "Faults",
    "RequestRecord",
    "Stats",
    "run_in_thread",
]
