"""Figures 1 to 4: one function each, measuring against a started `Stack`.

Each returns the plain data of bench/results.py; none formats or judges it
(bench/report.py does). They run in order; a figure may raise, which the run
reports as that figure failing.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections import Counter

import psutil

from bench.clients import RANGE_LENGTH, SeekSeries, curl_download, finish_curl, get, start_curl
from bench.config import (
    MB,
    SEEK_REQUESTS,
    SEEK_ROUNDS,
    THROUGHPUT_TRIES,
    UPSTREAM_ROUNDS,
    UPSTREAM_WARMUP_ROUNDS,
    MiB,
)
from bench.data import BIG, HUGE, RANDOM, SIZES, SMALL
from bench.results import (
    RssGrowth,
    SeekLatency,
    SeekSeriesResult,
    Throughput,
    UpstreamPair,
    UpstreamUse,
)
from bench.servers import emulator_call
from bench.stack import Stack, Targets


def upstream_pair(targets: Targets) -> UpstreamPair:
    return UpstreamPair(
        endpoint=targets.django_emu.label,
        endpoint_floor=targets.emulator.label,
        presigned=targets.django_presigned.label,
        presigned_floor=targets.store.label,
    )


def throughput(stack: Stack) -> Throughput:
    """Single stream of the 256 MiB file through curl, best of 3, rounds interleaved."""
    targets = stack.targets.media()
    best: dict[str, float] = {}
    worst: dict[str, float] = {}
    failures: Counter[str] = Counter()
    for _ in range(THROUGHPUT_TRIES):
        for target in targets:
            result = curl_download(target.url(target.path(BIG)), target.headers())
            if result.status != 200 or result.size != SIZES[BIG]:
                failures[f"{target.label}: {result.status}, {result.size} bytes"] += 1
                continue
            best[target.label] = max(best.get(target.label, 0.0), result.speed / MB)
            worst[target.label] = min(worst.get(target.label, math.inf), result.speed / MB)
    return Throughput(
        paths=[target.label for target in targets],
        best=best,
        worst=worst,
        chunk_paths={label: target.label for label, target in stack.targets.sweep.items()},
        failures=dict(failures),
        pair=upstream_pair(stack.targets),
    )


def seek_latency(stack: Stack) -> SeekLatency:
    """TTFB of 64 KiB ranges at random offsets, one keep-alive connection per path."""
    targets = stack.targets
    rng = random.Random(2)
    offsets = [rng.randrange(0, SIZES[RANDOM] - RANGE_LENGTH + 1) for _ in range(SEEK_REQUESTS)]
    content = stack.data.random_content
    paths = (targets.direct, targets.django, targets.offload, targets.django_emu)
    # the presigned path beside DCS's endpoint, each with its upstream read directly
    paths += (targets.emulator, targets.store, targets.django_presigned)
    media = [SeekSeries(target, RANDOM, SIZES[RANDOM], content) for target in paths]
    views = (targets.me_django, targets.me_offload, targets.ping_django)
    plain = [SeekSeries(target, None, 0, None) for target in views]
    per_round = SEEK_REQUESTS // SEEK_ROUNDS
    try:
        for index in range(SEEK_ROUNDS):
            # A fresh connection right before each series: one opened at the start of the
            # round would sit idle through the others, past gunicorn's and DCS's 5 s
            # keep-alive timeouts.
            for series in media:
                series.fresh_connection()
                series.range_reads(offsets[index * per_round : (index + 1) * per_round])
            for series in plain:
                series.fresh_connection()
                series.plain_gets(per_round)
    finally:
        for series in media + plain:
            series.close()
    return SeekLatency(
        [
            SeekSeriesResult(series.target.label, kind, series.ttfb, dict(series.errors))
            for kind, group in (("range", media), ("view", plain))
            for series in group
        ],
        pair=upstream_pair(targets),
    )


def upstream_use(stack: Stack) -> UpstreamUse:
    """Upstream requests and new upstream connections per client request (emulator)."""
    content = stack.data.small_content
    size = len(content)
    shapes = [
        (None, 200, content),
        ("bytes=0-1", 206, content[:2]),
        ("bytes=1000-", 206, content[1000:]),
        ("bytes=-500", 206, content[-500:]),
        (f"bytes=1000-{size * 10}", 206, content[1000:]),  # last position past the end
    ]
    target = stack.targets.django_emu

    def one_round() -> None:
        for range_header, status, body in shapes:
            headers = {"Range": range_header} if range_header else None
            got_status, got_body = get(target, target.path(SMALL), headers)
            if got_status != status or got_body != body:
                raise RuntimeError(f"{range_header}: {got_status}, {len(got_body)} bytes")

    for _ in range(UPSTREAM_WARMUP_ROUNDS):
        one_round()
    emulator_call(stack.emulator_port, "reset", "POST")
    for _ in range(UPSTREAM_ROUNDS):
        one_round()
    stats = emulator_call(stack.emulator_port, "stats")
    ranges = Counter(
        re.sub(r"\d+", "N", record["headers"].get("Range", "none")) for record in stats["records"]
    )
    return UpstreamUse(
        path=target.label,
        client_requests=UPSTREAM_ROUNDS * len(shapes),
        upstream_requests=stats["requests"],
        connections_opened=stats["connections_opened"],
        logins=stats["logins"],
        upstream_ranges=dict(ranges),
    )


def rss_growth(stack: Stack) -> list[RssGrowth]:
    """Peak RSS growth of the gunicorn workers while streaming the 1 GiB file."""
    servers = [(stack.lms["django"], stack.targets.django)] + [
        (stack.sweep[label], target) for label, target in stack.targets.sweep.items()
    ]
    rows = []
    for server, target in servers:
        for _ in range(4):  # warm both workers on this very file
            get(target, target.path(HUGE), {"Range": f"bytes=0-{MiB - 1}"})
        workers = [psutil.Process(pid) for pid in server.worker_pids()]
        baseline = {worker.pid: worker.memory_info().rss for worker in workers}
        peak = dict(baseline)
        curl = start_curl(target.url(target.path(HUGE)), target.headers())
        samples = 0
        while curl.poll() is None:
            for worker in workers:
                peak[worker.pid] = max(peak[worker.pid], worker.memory_info().rss)
            samples += 1
            time.sleep(0.02)
        result = finish_curl(curl)
        if result.status != 200 or result.size != SIZES[HUGE]:
            raise RuntimeError(f"{target.label}: {result.status}, {result.size} bytes")
        growth = max(peak[pid] - baseline[pid] for pid in baseline) / MiB
        rows.append(RssGrowth(target.label, growth, result.speed / MB, samples))
    return rows
