"""Everything the figures measure, started and checked: `start_stack()`.

The upstreams (the reference nginx, the DCS emulator, and for the presigned
path moto's S3 with a second emulator presigning URLs into it), redis, the LMS
servers (streaming, offload, emulator-backed, presigned, one per chunk size),
nginx in front of the offload one, and the `Target`s that reach each of them.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from bench import data as bench_data
from bench.clients import PresignedTarget, Target, get
from bench.config import CHUNK_SIZES, PLAIN_VIEW, THREADS, WORKERS
from bench.data import (
    BIG,
    BOOK,
    HUGE,
    PUBLISHER,
    RANDOM,
    S3_FILES,
    SMALL,
    Dataset,
    seed_database,
)
from bench.servers import (
    REDIS_DATABASES,
    Gunicorn,
    Processes,
    start_emulator,
    start_gunicorn,
    start_moto,
    start_offload_nginx,
    start_postgres_cluster,
    start_redis,
    start_reference_nginx,
    start_s3_emulator,
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
    ping_django: Target  # the plain view: the floor of any Django answer
    store: PresignedTarget  # presigned URLs GET from the store's gateway: their own floor
    django_presigned: Target  # the LMS with DCS_PRESIGNED=true, reading through them

    def media(self) -> list[Target]:
        """Every path to the files, the reference first."""
        lms = [self.django, self.offload, self.django_emu, self.django_presigned]
        return [self.direct, self.emulator, self.store, *lms, *self.sweep.values()]

    def presigned(self) -> list[Target]:
        """The paths that read the S3 stand-in: they hold S3_FILES only."""
        return [self.store, self.django_presigned]


@dataclass
class Stack:
    workdir: Path
    procs: Processes
    data: Dataset
    cache: str
    emulator_port: int
    reference_port: int
    emulator_pid: int = 0
    # the presigned path: moto's S3 server, the emulator presigning into it, its gateway
    moto: subprocess.Popen | None = None
    moto_port: int = 0
    s3_emulator: subprocess.Popen | None = None
    s3_emulator_port: int = 0
    store_port: int = 0
    redis_port: int | None = None
    redis_pid: int | None = None
    # streaming, offload, emulator, presigned; on PostgreSQL: pg, pg-offload
    lms: dict[str, Gunicorn] = field(default_factory=dict)
    sweep: dict[str, Gunicorn] = field(default_factory=dict)  # chunk-size label -> server
    offload_port: int = 0
    # the nginx in front of each offload server ("offload", "pg-offload"): (pid, port)
    offload_nginx: dict[str, tuple[int, int]] = field(default_factory=dict)
    postgres: Any = None  # local_servers.postgres.Postgres, when the run has one
    postgres_missing: str = ""  # why not
    targets: Targets | None = None
    cache_databases: Iterator[int] = field(default_factory=lambda: iter(range(REDIS_DATABASES)))

    def lms_server(self, name: str, dcs: str, **settings: str | None) -> Gunicorn:
        """A gunicorn of the LMS (not waited for), with a Redis database of its own; a
        setting given as None is left to deploy/gunicorn.conf.py."""
        if self.redis_port is not None:  # one database each: no server sees another's entries
            database = next(self.cache_databases)
            settings["CACHE_URL"] = f"redis://127.0.0.1:{self.redis_port}/{database}"
        return start_gunicorn(
            self.procs, name, self.data, dcs, workers=WORKERS, threads=THREADS, **settings
        )

    @property
    def reference_url(self) -> str:
        return f"http://127.0.0.1:{self.reference_port}"

    @property
    def presigned_upstream_pids(self) -> list[int]:
        """The presigned path's upstream: the S3-backed emulator (DCS and gateway), moto."""
        return [process.pid for process in (self.s3_emulator, self.moto) if process is not None]

    def stop_sweep(self) -> None:
        """The chunk-size servers are done: no idle workers under the concurrent load."""
        for server in self.sweep.values():
            self.procs.stop(server.process)


def start_stack(workdir: Path, procs: Processes, cache: str, progress) -> Stack:
    progress("building the object store and the database (migrate)")
    data = bench_data.build(workdir)
    stack = _start_upstreams(workdir, procs, data, cache)
    _start_postgres(stack, progress)
    progress(
        "starting gunicorn (streaming, offload, emulator-backed, presigned, 3 chunk sizes,"
        " PostgreSQL)"
    )
    _start_lms(stack)
    progress("waiting for the S3-backed emulator's upload into moto")
    _wait_for_s3_emulator(stack, progress)
    stack.targets = _targets(stack)
    progress("warming up and checking every path returns the right bytes")
    _check_and_warm(stack)
    return stack


def _start_upstreams(workdir: Path, procs: Processes, data: Dataset, cache: str) -> Stack:
    emulator, emulator_port = start_emulator(procs, data.storage_root)
    wait_for_port(emulator_port, emulator)
    reference, reference_port = start_reference_nginx(procs, data.storage_root, emulator_port)
    wait_for_port(reference_port, reference)
    stack = Stack(workdir, procs, data, cache, emulator_port, reference_port, emulator.pid)
    _start_s3(stack)
    if cache == "redis":
        redis, stack.redis_port = start_redis(procs)
        stack.redis_pid = redis.pid
        wait_for_port(stack.redis_port, redis)
    return stack


def _start_s3(stack: Stack) -> None:
    """moto, then the emulator that uploads the S3 folder into it (not waited for here:
    the upload runs while the LMS servers start)."""
    stack.moto, stack.moto_port = start_moto(stack.procs)
    wait_for_port(stack.moto_port, stack.moto)
    _start_s3_emulator(stack)


def _start_s3_emulator(stack: Stack) -> None:
    stack.s3_emulator, stack.s3_emulator_port, stack.store_port = start_s3_emulator(
        stack.procs, stack.data.s3_root, f"http://127.0.0.1:{stack.moto_port}"
    )


def _presigned_lms(stack: Stack) -> Gunicorn:
    """The LMS with DCS_PRESIGNED=true, its DCS the S3-backed emulator."""
    emulator_url = f"http://127.0.0.1:{stack.s3_emulator_port}"
    return stack.lms_server("gunicorn-presigned", emulator_url, DCS_PRESIGNED="true")


def _wait_for_s3_emulator(stack: Stack, progress) -> None:
    """Until the upload is done; once more if it failed (a busy machine: a timeout)."""
    try:
        wait_for_port(stack.s3_emulator_port, stack.s3_emulator, timeout=180)
        return
    except RuntimeError as error:
        progress(f"the S3-backed emulator did not start ({error}): starting it once more")
    stack.procs.stop(stack.s3_emulator)
    stack.procs.stop(stack.lms["presigned"].process)  # it points at the old ports
    (stack.workdir / "emulator-s3.log").rename(stack.workdir / "emulator-s3.failed.log")
    _start_s3_emulator(stack)
    stack.lms["presigned"] = _presigned_lms(stack)
    wait_for_port(stack.s3_emulator_port, stack.s3_emulator, timeout=180)
    wait_for_port(stack.lms["presigned"].port, stack.lms["presigned"].process, timeout=90)


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
        "presigned": _presigned_lms(stack),
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
            "emulator (direct)",
            stack.emulator_port,
            dcs_prefix,
            f"Bearer {_dcs_token(stack.emulator_port)}",
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
        ping_django=Target(PLAIN_VIEW, lms["django"].port, "/ping", bearer),
        store=PresignedTarget(
            "store (presigned, direct)", stack.store_port, "", urls=_presigned_paths(stack)
        ),
        django_presigned=Target(
            "django->store (presigned)", lms["presigned"].port, lms_prefix, bearer
        ),
    )


def _presigned_paths(stack: Stack) -> tuple[tuple[str, str], ...]:
    """One presigned URL per S3 file, asked of the S3-backed emulator as the LMS asks:
    each URL's path and query, which the gateway checks as signed."""
    authorization = f"Bearer {_dcs_token(stack.s3_emulator_port)}"
    paths = []
    for name in S3_FILES:
        request = urllib.request.Request(
            f"http://127.0.0.1:{stack.s3_emulator_port}/storage/books/{PUBLISHER}/{BOOK}"
            f"/presigned?path={quote(name, safe='')}",
            headers={"Authorization": authorization},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            url = urlsplit(json.loads(answer.read())["url"])
        if url.netloc != f"127.0.0.1:{stack.store_port}":
            raise RuntimeError(f"{name}: presigned for {url.netloc}, not the store gateway")
        paths.append((name, f"{url.path}?{url.query}"))
    return tuple(paths)


def _dcs_token(port: int) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/auth/login",
        data=json.dumps({"email": "lms@dcs.local", "password": "dcs-dev-password"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())["access_token"]


def _check_and_warm(stack: Stack) -> None:
    """A few fresh connections: logs in, fills the size cache, emulator ETags; checks bytes."""
    targets = stack.targets
    content = stack.data.random_content
    for target in targets.media():
        presigned = any(target is other for other in targets.presigned())
        for _ in range(6):
            status, body = get(target, target.path(SMALL))
            if status != 200 or body != stack.data.small_content:
                raise RuntimeError(
                    f"{target.label}: {SMALL} came back wrong ({status}, {len(body)} bytes):"
                    f" {body[:200]!r}"
                )
            for name in (BIG, RANDOM) if presigned else (BIG, HUGE, RANDOM):
                status, body = get(target, target.path(name), {"Range": "bytes=0-0"})
                if status != 206 or len(body) != 1:
                    raise RuntimeError(f"{target.label}: {name} bytes=0-0 gave {status}")
            status, body = get(target, target.path(RANDOM), {"Range": "bytes=1000-66535"})
            if status != 206 or body != content[1000:66536]:
                raise RuntimeError(f"{target.label}: {RANDOM} bytes=1000-66535 came back wrong")
    for target in [targets.me_django, targets.me_offload, targets.ping_django]:
        for _ in range(4):
            status, _ = get(target, target.prefix)
            if status != 200:
                raise RuntimeError(f"{target.label} answered {status}")
