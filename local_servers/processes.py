"""The command lines of the helper servers, and stopping what was started."""

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path


def redis_command(redis_server: str, port: int, directory: Path) -> list[str]:
    """A throwaway redis-server on 127.0.0.1: nothing saved, nothing appended."""
    return [
        redis_server,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
    ]


def emulator_command(root: Path, port: int | str) -> list[str]:
    """The DCS emulator in its own process, serving the object store at `root`."""
    return [sys.executable, "-m", "dcs_emulator", "--root", str(root), "--port", str(port)]


def _signal(process: subprocess.Popen, signum: int) -> None:
    if process.poll() is None:
        with contextlib.suppress(OSError):
            process.send_signal(signum)


def _wait_or_kill(process: subprocess.Popen, timeout: float) -> None:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def stop_process(
    process: subprocess.Popen, signum: int = signal.SIGTERM, timeout: float = 10
) -> None:
    """Send `signum` (if it still runs), wait up to `timeout` seconds, then kill it."""
    _signal(process, signum)
    _wait_or_kill(process, timeout)


def stop_processes(processes: Iterable[tuple[subprocess.Popen, int]], timeout: float = 10) -> None:
    """Signal every (process, signal) first, then wait for each: they stop side by side."""
    processes = list(processes)
    for process, signum in processes:
        _signal(process, signum)
    for process, _ in processes:
        _wait_or_kill(process, timeout)
