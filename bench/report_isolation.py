"""Figure 8's part of the table (bench/report.py has figures 1-7): per mode, the paused and
slow players, then DCS hung, each against its target."""

from __future__ import annotations

from collections import Counter

from bench.clients import percentile
from bench.config import (
    ISOLATION_BATCH,
    ISOLATION_BATCH_PAUSE,
    ISOLATION_DCS_SEND_BUFFER,
    ISOLATION_HUNG_RANGE,
    ISOLATION_HUNG_RATE,
    ISOLATION_MSS,
    ISOLATION_OPEN_SECONDS,
    ISOLATION_PROBE_RATE,
    ISOLATION_PROBE_SECONDS,
    ISOLATION_PROBE_TIMEOUT,
    ISOLATION_RCVBUF,
    ISOLATION_SEEK,
    ISOLATION_SEND_TIMEOUT,
    ISOLATION_SETTLE_CAP,
    ISOLATION_SETTLED_CPU,
    ISOLATION_SLOW_RATE,
    ISOLATION_TARGETS,
)
from bench.report import Section, ms
from bench.results import HeldCost, HungDcs, Isolation, PausedPlayers, ProbeSeries
from bench.table import Row, row

NOTE = (
    "figure 8, per mode, its own 2 LMS servers (gevent, bulkhead and breaker as shipped,"
    f" MEDIA_SEND_TIMEOUT={ISOLATION_SEND_TIMEOUT}; offload: each behind the shipped nginx"
    " template). Players: GET of the 256 MiB file, Range: bytes=0-, by bearer (one reader"
    f" each, round robin), MSS {ISOLATION_MSS}; paused ones read the status line and nothing"
    f" more (SO_RCVBUF {ISOLATION_RCVBUF // 1024} KiB), {ISOLATION_BATCH} opened every"
    f" {ISOLATION_BATCH_PAUSE} s; slow ones read {ISOLATION_SLOW_RATE // 1024} KiB/s; all in"
    " one asyncio process, apart from the probes. Their DCS: an nginx under DCS's URL"
    f" layout with SO_SNDBUF {ISOLATION_DCS_SEND_BUFFER // 1024} KiB (autotuned it pins up"
    " to 4 MiB per paused stream, DCS's memory, not the LMS's). 'held' = got its 206 and"
    " still connected when the probes ended. The probes start once the servers settled"
    f" (LMS and stand-in under {ISOLATION_SETTLED_CPU} CPU s/s, at most"
    f" {ISOLATION_SETTLE_CAP:.0f} s after the last player opened). Probes:"
    f" {ISOLATION_PROBE_RATE:.0f}/s each for {ISOLATION_PROBE_SECONDS:.0f} s, each on a new"
    f" connection, {ISOLATION_PROBE_TIMEOUT:.0f} s timeout, connect to last byte: the login"
    f" page (200) and a seek (bytes={ISOLATION_SEEK[0]}-{ISOLATION_SEEK[1]}: 206, 1000"
    " bytes). Memory: RSS of the LMS's process trees, and the kernel's TCP buffers of the"
    " whole machine (players and DCS stand-in included) against tcp_mem. DCS hung: another"
    " LMS reads the DCS emulator; its hang_all switch on,"
    f" {ISOLATION_HUNG_RATE:.0f} media requests/s (bytes={ISOLATION_HUNG_RANGE[0]}-"
    f"{ISOLATION_HUNG_RANGE[1]} of the 300 KiB file, each on a new connection, timed to the"
    f" status line) and login probes; the hang is cleared {ISOLATION_OPEN_SECONDS:.0f} s"
    " after the first 503. 'while open' = requests sent after the first 503 and answered"
    " before the clear; recovery = the clear to the first success of a request sent after it."
)


def _probe_row(label: str, series: ProbeSeries, target: str) -> Row:
    limit = ISOLATION_TARGETS[target]
    p50, p99 = percentile(series.seconds, 0.5), percentile(series.seconds, 0.99)
    failed = sum(series.failures.values())
    kinds = ", ".join(f"{kind} x {count}" for kind, count in series.failures.items())
    value = f"p50 {ms(p50)} / p99 {ms(p99)}, {failed} failed of {series.count}"
    met = bool(series.seconds) and p99 <= limit and not failed
    target_text = f"p99 <= {limit * 1000:.0f} ms, 0 failed"
    return row("", label, value + (f" ({kinds})" if kinds else ""), "", target_text, met)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} x {value}" for key, value in sorted(counts.items()))


def _cost_value(cost: HeldCost) -> str:
    rss = ", ".join(f"{name} {mib:,.0f}" for name, mib in cost.rss_mib.items())
    return (
        f"RSS {rss} MiB; kernel TCP buffers {cost.tcp_mib:,.0f} MiB (machine; tcp_mem"
        f" pressure {cost.tcp_pressure_mib:,.0f}, limit {cost.tcp_limit_mib:,.0f})"
    )


def _paused_rows(item: PausedPlayers) -> list[Row]:
    rates = item.slow_kib_s
    return [
        row(
            f"8 isolation, {item.mode}",
            f"paused players held (206), opened in {item.opened_seconds:.1f} s"
            f" (settled {item.settle_seconds:.0f} s)",
            f"{item.held}/{item.paused} ({_counts(item.paused_statuses)}; at the end"
            f" {item.cost.open_connections} connections open, the first"
            f" {item.held_seconds:.0f} s old)",
            "",
            f"{item.paused}/{item.paused}",
            item.held == item.paused,
        ),
        row(
            "",
            f"{item.slow} slow players at {ISOLATION_SLOW_RATE // 1024} KiB/s, during the probes",
            f"median {percentile(rates, 0.5):.1f}, min {min(rates, default=float('nan')):.1f}"
            f" KiB/s ({_counts(item.slow_statuses)})",
        ),
        _probe_row("login page, paused + slow held", item.login, "login p99"),
        _probe_row("seek (1000 bytes), paused + slow held", item.seek, "seek p99"),
        row("", "memory while held", _cost_value(item.cost)),
    ]


def _hung_rows(item: HungDcs) -> list[Row]:
    hung, opened = item.hung(), item.while_open()
    slowest = max((answer.seconds for answer in hung), default=float("nan"))
    open_p99 = percentile([answer.seconds for answer in opened], 0.99)
    first, recovery = item.first_503, item.recovery
    limit = {key: ISOLATION_TARGETS[key] for key in ("hung slowest", "open p99", "recovery")}
    statuses = Counter(answer.status for answer in hung)
    return [
        row("", "DCS hung: first 503 after", "none" if first is None else f"{first:.2f} s"),
        row(
            "",
            f"DCS hung: slowest media answer (DCS_READ_TIMEOUT {item.read_timeout:.0f} s)",
            f"{slowest:.2f} s ({len(hung)} requests while hung: {_counts(statuses)})",
            "",
            f"<= {limit['hung slowest']:.0f} s",
            slowest <= limit["hung slowest"],
        ),
        row(
            "",
            "DCS hung: media answers while open",
            f"p50 {ms(percentile([a.seconds for a in opened], 0.5))} / p99 {ms(open_p99)}"
            f" ({len(opened)} requests: {_counts(Counter(a.status for a in opened))})",
            "",
            f"p99 < {limit['open p99'] * 1000:.0f} ms",
            bool(opened) and open_p99 < limit["open p99"],
        ),
        row(
            "",
            f"DCS hung: cleared -> first success (DCS_BREAKER_RESET {item.breaker_reset:.0f} s)",
            "none" if recovery is None else f"{recovery:.2f} s",
            "",
            f"<= {limit['recovery']:.0f} s",
            recovery is not None and recovery <= limit["recovery"],
        ),
        _probe_row("login page, DCS hung and recovering", item.login, "login p99"),
    ]


def isolation(result: Isolation) -> Section:
    rows = []
    for paused, hung in zip(result.paused, result.hung, strict=True):
        rows += _paused_rows(paused) + _hung_rows(hung)
    return Section(rows, [NOTE])
