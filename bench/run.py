"""`python -m bench`: set up, measure figures 1-8 side by side, print one table.

Progress goes to stderr; the table goes to stdout, bench-results/latest.txt
(full runs) and docs/bench-results.md (every run, as Markdown). Exit status 0
when every figure was measured (targets met or not), 1 when a figure failed to
run, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import figures, figures_isolation, figures_load, report, report_isolation
from bench.config import WATCHDOG_SECONDS
from bench.data import ROOT
from bench.machine import CpuMeter, code_version, machine, machine_lines
from bench.servers import Processes, inherited_lms_settings, redis_version
from bench.stack import Stack, start_stack
from bench.table import Table, row

RESULTS_TEXT = ROOT / "bench-results" / "latest.txt"
RESULTS_MARKDOWN = ROOT / "docs" / "bench-results.md"


@dataclass(frozen=True)
class Figure:
    number: str
    title: str
    measure: Callable[[Stack], Any]  # -> the figure's data (bench/results.py)
    report: Callable[[Any], report.Section]  # the data -> rows and notes


FIGURES = [
    Figure("1", "single-stream throughput", figures.throughput, report.throughput),
    Figure("2", "seek latency", figures.seek_latency, report.seek_latency),
    Figure("3", "upstream requests and connections", figures.upstream_use, report.upstream_use),
    Figure("4", "worker RSS while streaming 1 GiB", figures.rss_growth, report.rss_growth),
    Figure("5", "200 concurrent clients", figures_load.concurrency, report.concurrency),
    Figure(
        "6",
        "per-request cost against the plain view",
        figures_load.requests_per_second,
        report.requests_per_second,
    ),
    Figure("7", "defaults from measurements", figures_load.defaults, report.defaults),
    Figure(
        "8",
        "isolation: paused and slow players, DCS hung",
        figures_isolation.isolation,
        report_isolation.isolation,
    ),
]


class Watchdog(BaseException):
    """The whole run took too long (not an Exception: no figure may swallow it)."""


_STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


class ProgressLog(logging.Handler):
    """The figures' own log lines (bench.*, INFO and up) go where progress goes."""

    def emit(self, record: logging.LogRecord) -> None:
        progress(record.getMessage())


def install_logging() -> None:
    bench_logger = logging.getLogger("bench")
    bench_logger.setLevel(logging.INFO)
    bench_logger.addHandler(ProgressLog())
    bench_logger.propagate = False


def run_figure(figure: Figure, stack: Stack, table: Table) -> bool:
    """Measure one figure into the table; False when it failed to run or saw errors."""
    progress(f"figure {figure.number}: {figure.title}")
    try:
        section = figure.report(figure.measure(stack))
    except Exception as error:  # one broken figure must not hide the others
        traceback.print_exc(file=sys.stderr)
        message = f"FAILED: {type(error).__name__}: {error}"[:120]
        table.rows.append(row(figure.number, figure.title, message))
        return False
    table.rows += section.rows
    table.notes += section.notes
    return not section.failed


def run_figures(stack: Stack, table: Table, only: set[str] | None) -> bool:
    """Every figure asked for, in order; True when all of them ran cleanly."""
    ok = True
    for figure in FIGURES:
        if figure.number == "5":
            stack.stop_sweep()
        if only is None or figure.number in only:
            ok = run_figure(figure, stack, table) and ok
    return ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only", help="comma-separated figure numbers to measure (default: all), e.g. 2,6"
    )
    parser.add_argument(
        "--cache",
        choices=["redis", "locmem"],
        default="redis",
        help="the LMS cache: a shared redis-server (default, as in production) or per-process",
    )
    return parser.parse_args(argv)


def install_signals() -> None:
    def on_term(signum, frame):
        raise KeyboardInterrupt

    def on_alarm(signum, frame):
        raise Watchdog(f"the benchmark ran longer than {WATCHDOG_SECONDS} s")

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(WATCHDOG_SECONDS)


def header_lines(
    started: datetime.datetime, code: str, elapsed: float, meter: CpuMeter, only: str | None
) -> list[str]:
    other, steal = meter.foreign_cpu(elapsed)
    return [
        "LMS media proxy benchmark (make bench)",
        *machine_lines(started, code),
        f"run:     {elapsed:.0f} s" + (f", figures {only} only" if only else ""),
        f"noise:   load average {meter.load_before:.2f} before the run; other processes used"
        f" {other:.0%} of the machine's CPU during it, steal {steal:.0%}"
        + (" -- NOISY: rerun on a quiet machine" if other > 0.10 or steal > 0.05 else ""),
    ]


def write_results(
    table: Table, header: list[str], started: datetime.datetime, code: str, full: bool
) -> None:
    """Print the table; write it to bench-results/ (full runs) and docs/bench-results.md."""
    text = table.render(header)
    print(text)
    if full:
        RESULTS_TEXT.parent.mkdir(exist_ok=True)
        RESULTS_TEXT.write_text(text)
    first_line = (
        "Generated by `make bench`; do not edit by hand. The figures below were taken on"
        f" {machine()} ({started.strftime('%Y-%m-%d')}, code {code})."
    )
    RESULTS_MARKDOWN.write_text(table.markdown(first_line, header))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    meter = CpuMeter()
    started = datetime.datetime.now(datetime.UTC)
    began = time.monotonic()
    install_signals()
    install_logging()
    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-"))
    workdir.chmod(0o755)  # nginx workers drop root: they must reach the object store
    procs = Processes(workdir)
    table = Table()
    try:
        stack = start_stack(workdir, procs, args.cache, progress)
        ok = run_figures(stack, table, only)
    except KeyboardInterrupt:
        print("interrupted: stopping every server", file=sys.stderr)
        return 130
    except (Exception, Watchdog):
        traceback.print_exc(file=sys.stderr)
        print(f"the benchmark failed; server logs in {workdir}", file=sys.stderr)
        workdir = None  # keep the logs
        return 1
    finally:
        signal.alarm(0)
        procs.stop_all()
        if workdir is not None and not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)
    redis = redis_version() if args.cache == "redis" else ""
    notes = report.general_notes(args.cache, redis, inherited_lms_settings())
    table.notes = notes + table.notes
    code = code_version()
    header = header_lines(started, code, time.monotonic() - began, meter, args.only)
    write_results(table, header, started, code, full=only is None)
    return 0 if ok else 1
