"""Everything the figures measure, started and checked: `start_stack()`.

The upstreams (the reference nginx, the DCS emulator), redis, the LMS servers
(streaming, offload, emulator-backed, one per chunk size), nginx in front of
the offload one, and the `Target`s that reach each of them.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import data as bench_data
from bench.clients import Target, get
from bench.config import CHUNK_SIZES, THREADS, WORKERS
from bench.data import BIG, BOOK, HUGE, PUBLISHER, RANDOM, SMALL, Dataset, seed_database
from bench.servers import (
    Gunicorn,
    Processes,
    start_emulator,
    start_gunicorn,
    start_offload_nginx,
    start_postgres_cluster,
    start_redis,
    start_reference_nginx,
)
from local_servers import wait_for_port


@dataclass
class Targets:
    direct: Target
    emulator: Target
    django: Target
    offload: Target
    django_emu: Target
    sweep: dict[str, Target]  # chunk-size label -> its server
    me_django: Target
    me_offload: Target

    def media(self) -> list[Target]:
        """Every path to the files, the reference first."""
        lms = [self.django, self.offload, self.django_emu, *self.sweep.values()]
        return [self.direct, self.emulator, *lms]


@dataclass
class Stack:
    workdir: Path
    procs: Processes
    data: Dataset
    cache: str
    emulator_port: int
    reference_port: int
    redis_port: int | None = None
    redis_pid: int | None = None
    # streaming, offload, emulator; on PostgreSQL: pg, pg-offload
    lms: dict[str, Gunicorn] = field(default_factory=dict)
    sweep: dict[str, Gunicorn] = field(default_factory=dict)  # chunk-size label -> server
    offload_port: int = 0
    # the nginx in front of each offload server ("offload", "pg-offload"): (pid, port)
    offload_nginx: dict[str, tuple[int, int]] = field(default_factory=dict)
    postgres: Any = None  # local_servers.postgres.Postgres, when the run has one
    postgres_missing: str = ""  # why not
    targets: Targets | None = None
    cache_databases: Iterator[int] = field(default_factory=lambda: iter(range(16)))

    def lms_server(self, name: str, dcs: str, **settings: str) -> Gunicorn:
        """A gunicorn of the LMS (not waited for), with a Redis database of its own."""
        if self.redis_port is not None:  # one database each: no server sees another's entries
            database = next(self.cache_databases)
            settings["CACHE_URL"] = f"redis://127.0.0.1:{self.redis_port}/{database}"
        return start_gunicorn(
            self.procs, name, self.data, dcs, workers=WORKERS, threads=THREADS, **settings
        )

    @property
    def reference_url(self) -> str:
        return f"http://127.0.0.1:{self.reference_port}"

    def stop_sweep(self) -> None:
        """The chunk-size servers are done: no idle workers under the concurrent load."""
        for server in self.sweep.values():
            self.procs.stop(server.process)


def start_stack(workdir: Path, procs: Processes, cache: str, progress) -> Stack:
    progress("building the object store and the database (migrate)")
    data = bench_data.build(workdir)
    stack = _start_upstreams(workdir, procs, data, cache)
    _start_postgres(stack, progress)
    progress("starting gunicorn (streaming, offload, emulator-backed, 3 chunk sizes, PostgreSQL)")
    _start_lms(stack)
    stack.targets = _targets(stack)
    progress("warming up and checking every path returns the right bytes")
    _check_and_warm(stack)
    return stack


def _start_upstreams(workdir: Path, procs: Processes, data: Dataset, cache: str) -> Stack:
    emulator, emulator_port = start_emulator(procs, data.storage_root)
    wait_for_port(emulator_port, emulator)
    reference, reference_port = start_reference_nginx(procs, data.storage_root, emulator_port)
    wait_for_port(reference_port, reference)
    stack = Stack(workdir, procs, data, cache, emulator_port, reference_port)
    if cache == "redis":
        redis, stack.redis_port = start_redis(procs)
        stack.redis_pid = redis.pid
        wait_for_port(stack.redis_port, redis)
    return stack


def _start_postgres(stack: Stack, progress) -> None:
    """A throwaway PostgreSQL cluster, migrated and seeded like the SQLite file."""
    from local_servers.postgres import postgres_bin

    if postgres_bin("initdb") is None:
        stack.postgres_missing = "PostgreSQL is not installed (apt-get install -y postgresql)"
        return
    progress("starting a throwaway PostgreSQL cluster (initdb, migrate, seed)")
    stack.postgres = start_postgres_cluster(stack.procs)
    stack.data.postgres = seed_database(stack.postgres.url)


def _start_lms(stack: Stack) -> None:
    reference_url = stack.reference_url
    emulator_url = f"http://127.0.0.1:{stack.emulator_port}"
    lms = stack.lms_server
    stack.lms = {
        "django": lms("gunicorn-django", reference_url),
        "offload": lms("gunicorn-offload", reference_url, MEDIA_NGINX_OFFLOAD="true"),
        "emulator": lms("gunicorn-emulator", emulator_url),
    }
    if stack.postgres is not None:
        database_url = stack.postgres.url
        stack.lms["pg"] = lms("gunicorn-pg", reference_url, database_url=database_url)
        stack.lms["pg-offload"] = lms(
            "gunicorn-pg-offload",
            reference_url,
            MEDIA_NGINX_OFFLOAD="true",
            database_url=database_url,
        )
    stack.sweep = {
        label: lms(f"gunicorn-chunk-{size}", reference_url, MEDIA_CHUNK_SIZE=str(size))
        for label, size in CHUNK_SIZES.items()
    }
    for server in [*stack.lms.values(), *stack.sweep.values()]:
        wait_for_port(server.port, server.process, timeout=90)
    for name in ("offload", "pg-offload"):
        if name in stack.lms:
            nginx, port = start_offload_nginx(
                stack.procs,
                stack.lms[name].address,
                f"127.0.0.1:{stack.reference_port}",
                directory_name=f"nginx-{name}",
            )
            wait_for_port(port, nginx)
            stack.offload_nginx[name] = (nginx.pid, port)
    stack.offload_port = stack.offload_nginx["offload"][1]


def _targets(stack: Stack) -> Targets:
    dcs_prefix = f"/storage/books/{PUBLISHER}/{BOOK}/object?path="
    lms_prefix = f"/api/v1/books/{stack.data.book_id}/media/"
    bearer = f"Bearer {stack.data.token}"
    lms = stack.lms
    return Targets(
        direct=Target("direct (nginx)", stack.reference_port, dcs_prefix),
        emulator=Target(
            "emulator (direct)", stack.emulator_port, dcs_prefix, f"Bearer {_dcs_token(stack)}"
        ),
        django=Target("django", lms["django"].port, lms_prefix, bearer),
        offload=Target("offload (nginx+django)", stack.offload_port, lms_prefix, bearer),
        django_emu=Target("django->emulator", lms["emulator"].port, lms_prefix, bearer),
        sweep={
            label: Target(f"django chunk {label}", server.port, lms_prefix, bearer)
            for label, server in stack.sweep.items()
        },
        me_django=Target("/api/v1/me (django)", lms["django"].port, "/api/v1/me", bearer),
        me_offload=Target("/api/v1/me (offload)", stack.offload_port, "/api/v1/me", bearer),
    )


def _dcs_token(stack: Stack) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{stack.emulator_port}/auth/login",
        data=json.dumps({"email": "lms@dcs.local", "password": "dcs-dev-password"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())["access_token"]


def _check_and_warm(stack: Stack) -> None:
    """A few fresh connections: logs in, fills the size cache, emulator ETags; checks bytes."""
    targets = stack.targets
    for target in targets.media():
        for _ in range(6):
            status, body = get(target, target.path(SMALL))
            if status != 200 or body != stack.data.small_content:
                raise RuntimeError(
                    f"{target.label}: {SMALL} came back wrong ({status}, {len(body)} bytes):"
                    f" {body[:200]!r}"
                )
            for name in (BIG, HUGE, RANDOM):
                status, body = get(target, target.path(name), {"Range": "bytes=0-0"})
                if status != 206 or len(body) != 1:
                    raise RuntimeError(f"{target.label}: {name} bytes=0-0 gave {status}")
    for target in [targets.me_django, targets.me_offload]:
        for _ in range(4):
            status, _ = get(target, target.prefix)
            if status != 200:
                raise RuntimeError(f"{target.label} answered {status}")
