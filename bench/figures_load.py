"""Figures 5 and 6: many clients at once (forked load processes), measured per path.

Like bench/figures.py, each returns plain data (bench/results.py).
"""

from __future__ import annotations

import time

from bench.clients import Target, percentile
from bench.config import (
    LOAD_CLIENTS,
    LOAD_FULL_EVERY,
    LOAD_SECONDS,
    RPS_CLIENTS,
    RPS_ROUNDS,
    RPS_SECONDS,
)
from bench.data import RANDOM
from bench.load import LoadResult, LoadSpec, run_load
from bench.results import ConcurrentPath, RatePair, RequestRate
from bench.servers import nginx_accepts
from bench.stack import Stack


def concurrency(stack: Stack) -> list[ConcurrentPath]:
    """200 clients: random 64 KiB ranges, every 10th op a full play; every byte checked."""
    targets = stack.targets
    paths = []
    for target in (targets.direct, targets.django, targets.offload):
        warnings = _pool_full_warnings(stack)
        accepts = nginx_accepts(stack.reference_port)
        start = time.monotonic() + 1.0
        spec = LoadSpec(
            port=target.port,
            headers=target.headers(),
            path=target.path(RANDOM),
            kind="media",
            content=stack.data.random_content,
            full_every=LOAD_FULL_EVERY,
            start_at=start,
            end_at=start + LOAD_SECONDS,
            authorizations=_authorizations(stack, target),
        )
        result, elapsed = run_load(spec, LOAD_CLIENTS)
        upstream_connections = nginx_accepts(stack.reference_port) - accepts - 1
        is_reference = target is targets.direct
        paths.append(
            ConcurrentPath(
                target.label,
                result,
                elapsed,
                None if is_reference else upstream_connections,
                _pool_full_warnings(stack) - warnings,
            )
        )
    return paths


def requests_per_second(stack: Stack) -> list[RatePair]:
    """Offload mode: 64 KiB media ranges vs the minimal authenticated view, via nginx."""
    targets = stack.targets
    pairs = [(targets.offload, targets.me_offload), (targets.django, targets.me_django)]
    return [
        RatePair(*_rate_pair(stack, media, view), has_target=media is targets.offload)
        for media, view in pairs
    ]


def _rate_pair(stack: Stack, media: Target, view: Target) -> tuple[RequestRate, RequestRate]:
    totals = {"media": (LoadResult(), [0.0]), "plain": (LoadResult(), [0.0])}
    for _ in range(RPS_ROUNDS):  # alternating slices: drift hits both rows alike
        for target, kind in ((media, "media"), (view, "plain")):
            start = time.monotonic() + 0.5
            spec = LoadSpec(
                port=target.port,
                headers=target.headers(),
                path=target.path(RANDOM) if kind == "media" else target.prefix,
                kind=kind,
                content=stack.data.random_content,
                start_at=start,
                end_at=start + RPS_SECONDS / RPS_ROUNDS,
                authorizations=_authorizations(stack, target),
            )
            result, elapsed = run_load(spec, RPS_CLIENTS)
            totals[kind][0].merge(result)
            totals[kind][1][0] += elapsed
    rates = []
    for target, kind in ((media, "media"), (view, "plain")):
        result, (elapsed,) = totals[kind]
        rates.append(
            RequestRate(
                target.label,
                sum(result.ops.values()) / elapsed,
                sum(result.errors.values()),
                percentile(result.all_ttfb(), 0.99),
            )
        )
    return rates[0], rates[1]


def _authorizations(stack: Stack, target: Target) -> list[str] | None:
    """One reader per client thread (the direct upstreams take no reader's token)."""
    if target.authorization is None or target is stack.targets.emulator:
        return None
    return [f"Bearer {token}" for token in stack.data.tokens]


def _pool_full_warnings(stack: Stack) -> int:
    count = 0
    for name in ("gunicorn-django", "gunicorn-offload"):
        path = stack.workdir / f"{name}.log"
        if path.exists():
            count += path.read_text(errors="replace").count("Connection pool is full")
    return count
