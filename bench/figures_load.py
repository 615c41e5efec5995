"""Figures 5, 6 and 7: many clients at once (forked load processes), measured per path.

Like bench/figures.py, each returns plain data (bench/results.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import quote

from bench.clients import Target, get, percentile
from bench.config import (
    DEFAULTS_SECONDS,
    LOAD_CLIENTS,
    LOAD_FULL_EVERY,
    LOAD_SECONDS,
    PLAIN_VIEW,
    RPS_CLIENTS,
    RPS_ROUNDS,
    RPS_SECONDS,
    SERVING_MODEL_CLIENTS,
    SERVING_MODELS,
    THREADS,
    WORKERS,
)
from bench.data import RANDOM, SMALL, Credentials
from bench.load import Credential, LoadResult, LoadSpec, run_load
from bench.results import ConcurrentPath, Defaults, RequestCost, RequestCosts
from bench.servers import Gunicorn, nginx_accepts, start_gunicorn, tree_cpu_seconds
from bench.stack import Stack
from local_servers import OFFLOAD_SECRET, wait_for_port

# What nginx adds to every request it passes to an offload gunicorn: without it the
# gunicorn streams the bytes itself (a sealed offload). The "decision" rows, which
# reach gunicorn without nginx, send it as nginx does.
DECISION_HEADERS = {"X-Media-Offload-Secret": OFFLOAD_SECRET}


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
            credentials=None if target is targets.direct else bearers(stack.data.sqlite),
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


# --- the readers' credentials ------------------------------------------------------


def bearers(credentials: Credentials) -> list[Credential]:
    return [Credential((("Authorization", f"Bearer {t}"),)) for t in credentials.tokens]


def sessions(credentials: Credentials) -> list[Credential]:
    return [Credential((("Cookie", f"sessionid={key}"),)) for key in credentials.sessions]


def signed_links(credentials: Credentials) -> list[Credential]:
    return [Credential(query=f"?sig={quote(link, safe=':')}") for link in credentials.links]


# --- one row: a load against one path, with the CPU it cost -------------------------


@dataclass
class Row:
    label: str
    role: str
    kind: str  # LoadSpec.kind
    port: int
    path: str
    credentials: list[Credential] | None
    lms_pids: list[int]  # process trees that are the LMS (gunicorn, nginx in front)
    upstream_pids: list[int] | None = None  # the upstream's, when its CPU is reported
    content: bytes | None = None  # the file `path` reads (None: RANDOM's)


def _support_pids(stack: Stack) -> list[int]:
    pids = [stack.redis_pid] if stack.redis_pid else []
    if stack.postgres is not None and stack.postgres.process is not None:
        pids.append(stack.postgres.process.pid)
    return pids


def measure_rows(
    stack: Stack, rows: list[Row], clients: int, seconds: float, rounds: int
) -> list[RequestCost]:
    """Each row under `clients` keep-alive clients for `seconds`, in `rounds` interleaved
    slices (drift hits every row alike); CPU per request from the servers' process trees."""
    _warm(stack, rows)
    support = _support_pids(stack)
    totals = {row.label: [LoadResult(), 0.0, 0.0, 0.0, 0.0] for row in rows}
    for _ in range(rounds):
        for row in rows:
            start = time.monotonic() + 0.5
            spec = LoadSpec(
                port=row.port,
                headers=DECISION_HEADERS if row.kind == "decision" else {},
                path=row.path,
                kind=row.kind,
                content=stack.data.random_content if row.content is None else row.content,
                start_at=start,
                end_at=start + seconds / rounds,
                credentials=row.credentials,
            )
            upstream = row.upstream_pids or []
            lms_before = sum(tree_cpu_seconds(pid) for pid in row.lms_pids)
            support_before = sum(tree_cpu_seconds(pid) for pid in support)
            upstream_before = sum(tree_cpu_seconds(pid) for pid in upstream)
            result, elapsed = run_load(spec, clients)
            total = totals[row.label]
            total[0].merge(result)
            total[1] += elapsed
            total[2] += sum(tree_cpu_seconds(pid) for pid in row.lms_pids) - lms_before
            total[3] += sum(tree_cpu_seconds(pid) for pid in support) - support_before
            total[4] += sum(tree_cpu_seconds(pid) for pid in upstream) - upstream_before
    costs = []
    for row in rows:
        result, elapsed, lms_cpu, support_cpu, upstream_cpu = totals[row.label]
        requests = sum(result.ops.values())
        costs.append(
            RequestCost(
                row.label,
                row.role,
                requests / elapsed if elapsed else 0.0,
                sum(result.errors.values()),
                percentile(result.all_ttfb(), 0.99),
                lms_cpu * 1000 / max(requests, 1),
                support_cpu * 1000 / max(requests, 1),
                requests,
                dict(result.errors.most_common(3)),
                None if row.upstream_pids is None else upstream_cpu * 1000 / max(requests, 1),
            )
        )
    return costs


def _warm(stack: Stack, rows: list[Row]) -> None:
    """A few requests per row on fresh connections (every worker): logins, caches, checks."""
    expected = {"plain": 200, "media": 206, "decision": 206}
    for row in rows:
        credential = (row.credentials or [Credential()])[0]
        target = Target(row.label, row.port, "")
        headers = dict(credential.headers)
        if row.kind != "plain":
            headers["Range"] = "bytes=0-65535"
        if row.kind == "decision":
            headers.update(DECISION_HEADERS)
        for _ in range(2 * WORKERS):
            status, _ = get(target, row.path + credential.query, headers)
            if status != expected[row.kind]:
                raise RuntimeError(f"{row.label}: answered {status} to the warm-up")


# --- figure 6: every per-request path against the plain view -----------------------


def _rows_for(
    stack: Stack,
    credentials: Credentials,
    streaming: Gunicorn,
    offload: Gunicorn,
    nginx: tuple[int, int],
) -> list[Row]:
    media = f"/api/v1/books/{credentials.book_id}/media/{quote(RANDOM, safe='')}"
    nginx_pid, nginx_port = nginx
    direct, proxied = [streaming.pid], [offload.pid, nginx_pid]
    rows = [
        Row(
            PLAIN_VIEW,
            "plain",
            "plain",
            streaming.port,
            "/ping",
            None,
            direct,
        )
    ]
    for name, creds in (("bearer", bearers(credentials)), ("session", sessions(credentials))):
        rows.append(
            Row(f"/api/v1/me, {name}", "me", "plain", streaming.port, "/api/v1/me", creds, direct)
        )
    by_credential = (
        ("bearer", bearers(credentials)),
        ("session", sessions(credentials)),
        ("signed link", signed_links(credentials)),
    )
    for name, creds in by_credential:
        rows.append(
            Row(
                f"streamed 64 KiB range, {name}",
                "streamed",
                "media",
                streaming.port,
                media,
                creds,
                direct,
            )
        )
    rows.append(
        Row(
            "plain view /ping (nginx+django)",
            "plain via nginx",
            "plain",
            nginx_port,
            "/ping",
            None,
            proxied,
        )
    )
    for name, creds in by_credential:
        rows.append(
            Row(
                f"offloaded 64 KiB range, {name}",
                "offloaded",
                "media",
                nginx_port,
                media,
                creds,
                proxied,
            )
        )
    return rows


def _upstream_rows(stack: Stack, credentials: Credentials) -> list[Row]:
    """64 KiB ranges streamed from DCS's object endpoint and through presigned URLs (SQLite
    servers), each with its upstream's CPU: the emulator; the S3-backed emulator and moto.

    Of the 300 KiB file: moto reads the whole object for every GET, which for the 16 MiB
    one would make moto's copy the measurement (figure 2 shows that cost)."""
    media = f"/api/v1/books/{credentials.book_id}/media/{quote(SMALL, safe='')}"
    endpoint, presigned = stack.lms["emulator"], stack.lms["presigned"]
    return [
        Row(
            "streamed 64 KiB range, bearer, django->emulator (DCS endpoint)",
            "endpoint",
            "media",
            endpoint.port,
            media,
            bearers(credentials),
            [endpoint.pid],
            [stack.emulator_pid],
            stack.data.small_content,
        ),
        Row(
            "streamed 64 KiB range, bearer, django->store (presigned)",
            "presigned",
            "media",
            presigned.port,
            media,
            bearers(credentials),
            [presigned.pid],
            stack.presigned_upstream_pids,
            stack.data.small_content,
        ),
    ]


def requests_per_second(stack: Stack) -> list[RequestCosts]:
    """Per-request cost of every authenticated path, each beside the plain view, per database."""
    sqlite = _rows_for(
        stack,
        stack.data.sqlite,
        stack.lms["django"],
        stack.lms["offload"],
        stack.offload_nginx["offload"],
    )
    sqlite += _upstream_rows(stack, stack.data.sqlite)
    results = [
        RequestCosts("SQLite", measure_rows(stack, sqlite, RPS_CLIENTS, RPS_SECONDS, RPS_ROUNDS))
    ]
    if stack.postgres is None:
        results.append(RequestCosts("PostgreSQL", [], missing=stack.postgres_missing))
        return results
    rows = _rows_for(
        stack,
        stack.data.postgres,
        stack.lms["pg"],
        stack.lms["pg-offload"],
        stack.offload_nginx["pg-offload"],
    )
    results.append(
        RequestCosts("PostgreSQL", measure_rows(stack, rows, RPS_CLIENTS, RPS_SECONDS, RPS_ROUNDS))
    )
    return results


# --- figure 7: the defaults, each from a measurement -------------------------------


def _extra_server(
    stack: Stack, name: str, threads: int, database_url: str | None = None, **settings: str
) -> Gunicorn:
    """One more LMS gunicorn for a figure 7 row (the figure stops it)."""
    if stack.redis_port is not None:
        settings.setdefault(
            "CACHE_URL", f"redis://127.0.0.1:{stack.redis_port}/{next(stack.cache_databases)}"
        )
    server = start_gunicorn(
        stack.procs,
        name,
        stack.data,
        stack.reference_url,
        workers=WORKERS,
        threads=threads,
        database_url=database_url,
        **settings,
    )
    wait_for_port(server.port, server.process, timeout=90)
    return server


def serving_models(stack: Stack) -> list[tuple[str, RequestCost]]:
    """Offload decisions and streamed 64 KiB ranges under each worker class, as each
    would ship (gthread: 32 threads in offload mode, 64 streaming)."""
    sqlite = stack.data.sqlite
    media = f"/api/v1/books/{sqlite.book_id}/media/{quote(RANDOM, safe='')}"
    measured = []
    for mode, offload in (("offloaded", "true"), ("streamed", "false")):
        for worker_class, threads_by_mode in SERVING_MODELS.items():
            threads = threads_by_mode[mode] if threads_by_mode else THREADS
            server = _extra_server(
                stack,
                f"gunicorn-{worker_class}-{mode}",
                threads,
                GUNICORN_WORKER_CLASS=worker_class,
                MEDIA_NGINX_OFFLOAD=offload,
                MEDIA_MAX_CONCURRENT=str(SERVING_MODEL_CLIENTS),  # the bulkhead never refuses
            )
            label = f"{mode} 64 KiB range, {worker_class}" + (
                f" x {threads} threads" if threads_by_mode else ""
            )
            kind = "decision" if offload == "true" else "media"
            row = Row(label, kind, kind, server.port, media, bearers(sqlite), [server.pid])
            try:
                cost = measure_rows(stack, [row], SERVING_MODEL_CLIENTS, DEFAULTS_SECONDS, 1)[0]
                measured.append((worker_class, cost))
            finally:
                stack.procs.stop(server.process)
    return measured


def defaults(stack: Stack) -> Defaults:
    """The worker class, gunicorn's access log, CONN_MAX_AGE."""
    sqlite = stack.data.sqlite
    models = serving_models(stack)

    logged = _extra_server(
        stack,
        "gunicorn-accesslog",
        THREADS,
        BENCH_GUNICORN_ACCESSLOG=str(stack.workdir / "gunicorn-access.log"),
    )
    plain = stack.lms["django"]
    access_rows = []
    for label, path, creds in (
        ("plain view /ping", "/ping", None),
        ("/api/v1/me, bearer", "/api/v1/me", bearers(sqlite)),
    ):
        off = Row(
            f"{label}, access log off", "plain", "plain", plain.port, path, creds, [plain.pid]
        )
        on = Row(
            f"{label}, access log on", "plain", "plain", logged.port, path, creds, [logged.pid]
        )
        measured = measure_rows(stack, [off, on], RPS_CLIENTS, DEFAULTS_SECONDS, 2)
        access_rows.append((measured[0], measured[1]))
    stack.procs.stop(logged.process)

    ages = []
    databases = [("SQLite", sqlite, stack.lms["django"])]
    if stack.postgres is not None:
        databases.append(("PostgreSQL", stack.data.postgres, stack.lms["pg"]))
    for database, creds, shipped in databases:
        fresh = _extra_server(
            stack,
            f"gunicorn-conn-max-age-0-{database.lower()}",
            THREADS,
            CONN_MAX_AGE="0",
            DATABASE_POOL_SIZE="0",  # no pool either: a connection opened per request
            database_url=creds.database_url,
        )
        path = "/api/v1/me"
        rows = [
            Row(
                f"/api/v1/me, bearer, {database}, CONN_MAX_AGE=0",
                "me",
                "plain",
                fresh.port,
                path,
                bearers(creds),
                [fresh.pid],
            ),
            Row(
                f"/api/v1/me, bearer, {database}, default",
                "me",
                "plain",
                shipped.port,
                path,
                bearers(creds),
                [shipped.pid],
            ),
        ]
        measured = measure_rows(stack, rows, RPS_CLIENTS, DEFAULTS_SECONDS, 2)
        ages.append((database, measured[0], measured[1]))
        stack.procs.stop(fresh.process)
    return Defaults(models, access_rows, ages, conn_max_age_default())


def conn_max_age_default() -> int:
    """CONN_MAX_AGE as the figure 6 servers run it (the shipped default unless overridden)."""
    import subprocess
    import sys

    from bench.data import ROOT, django_env, sqlite_url

    script = (
        "from django.conf import settings; print(settings.DATABASES['default']['CONN_MAX_AGE'])"
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c", script],
        cwd=ROOT,
        env=django_env(sqlite_url(ROOT / "var" / "unused.sqlite3")),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(result.stdout.strip().splitlines()[-1])


def _pool_full_warnings(stack: Stack) -> int:
    count = 0
    for name in ("gunicorn-django", "gunicorn-offload"):
        path = stack.workdir / f"{name}.log"
        if path.exists():
            count += path.read_text(errors="replace").count("Connection pool is full")
    return count
