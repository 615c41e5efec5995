"""The machine and software a run measured on, and how busy the machine was."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from importlib import metadata

import psutil

from bench.data import ROOT
from bench.servers import gunicorn_version, nginx_version, postgres_version


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> str:
    try:
        with open("/proc/meminfo") as handle:
            kib = int(handle.readline().split()[1])
        return f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        return "unknown"


def curl_version() -> str:
    result = subprocess.run(["curl", "--version"], capture_output=True, text=True, check=False)
    return result.stdout.split()[1] if result.stdout else "unknown"


def code_version() -> str:
    """The commit measured, and whether the work tree differed from it."""

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=10
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown (not a git work tree)"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{commit}" + (" + uncommitted changes" if dirty else "")


def machine() -> str:
    return (
        f"nproc {os.cpu_count()}, {cpu_model()}, {memory_gib()} RAM,"
        f" {platform.system()} {platform.release()}"
    )


def machine_lines(started: datetime.datetime, code: str) -> list[str]:
    return [
        f"date:    {started.strftime('%Y-%m-%d %H:%M:%S UTC')}, code {code}",
        f"machine: {machine()}",
        f"tools:   Python {sys.version.split()[0]}, nginx {nginx_version()},"
        f" gunicorn {gunicorn_version()}, Django {metadata.version('Django')},"
        f" requests {metadata.version('requests')}, urllib3 {metadata.version('urllib3')},"
        f" curl {curl_version()}, PostgreSQL {postgres_version()}",
    ]


class CpuMeter:
    """Started before the run: how much of the machine's CPU others used during it."""

    def __init__(self) -> None:
        self.load_before = os.getloadavg()[0]
        self.cpu_before, self.own_before = psutil.cpu_times(), os.times()

    def foreign_cpu(self, elapsed: float) -> tuple[float, float]:
        """Shares of the machine's CPU used by processes outside the benchmark, and stolen.

        All the benchmark's processes have been waited for by now, so os.times()
        counts them (and their children) in children_user/children_system.
        """
        cpu_after, own_after = psutil.cpu_times(), os.times()
        busy = sum(
            getattr(cpu_after, name, 0.0) - getattr(self.cpu_before, name, 0.0)
            for name in ("user", "nice", "system")
        )
        own = sum(
            getattr(own_after, name) - getattr(self.own_before, name)
            for name in ("user", "system", "children_user", "children_system")
        )
        steal = getattr(cpu_after, "steal", 0.0) - getattr(self.cpu_before, "steal", 0.0)
        capacity = elapsed * (os.cpu_count() or 1)
        return max(0.0, busy - own) / capacity, steal / capacity
