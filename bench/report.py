"""The one table the benchmark prints, and the machine it ran on."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata

from bench.servers import gunicorn_version, nginx_version


@dataclass
class Row:
    figure: str
    path: str
    value: str
    ratio: str = ""
    target: str = ""
    result: str = ""  # "met", "NOT met" or "" (no target)


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, figure: str, path: str, value: str, ratio: str = "", target: str = "", met=None):
        result = "" if met is None else ("met" if met else "NOT met")
        self.rows.append(Row(figure, path, value, ratio, target, result))

    def render(self, header: list[str]) -> str:
        columns = ["figure", "path", "value", "ratio", "target", "result"]
        cells = [[r.figure, r.path, r.value, r.ratio, r.target, r.result] for r in self.rows]
        widths = [
            max(len(columns[i]), *(len(row[i]) for row in cells)) if cells else len(columns[i])
            for i in range(len(columns))
        ]

        def line(values: list[str]) -> str:
            return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

        rule = "-" * len(line(["-" * w for w in widths]))
        out = [*header, "", line(columns), rule]
        previous = None
        for row in cells:
            if previous is not None and row[0] and row[0] != previous:
                out.append(rule)
            if row[0]:
                previous = row[0]
            out.append(line(row))
        out.append(rule)
        out += ["", "Notes:"] + [f"  - {note}" for note in self.notes]
        return "\n".join(out) + "\n"


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
    from bench.data import ROOT

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


def machine_lines(started: datetime.datetime) -> list[str]:
    return [
        f"date:    {started.strftime('%Y-%m-%d %H:%M:%S UTC')}, code {code_version()}",
        f"machine: nproc {os.cpu_count()}, {cpu_model()}, {memory_gib()} RAM,"
        f" {platform.system()} {platform.release()}",
        f"tools:   Python {sys.version.split()[0]}, nginx {nginx_version()},"
        f" gunicorn {gunicorn_version()}, Django {metadata.version('Django')},"
        f" requests {metadata.version('requests')}, urllib3 {metadata.version('urllib3')},"
        f" curl {curl_version()}",
    ]
