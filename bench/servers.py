"""The processes the benchmark starts, each stopped when it ends (also on Ctrl-C).

All of them listen on 127.0.0.1 only. Each child asks the kernel for SIGTERM
when the benchmark process dies (PR_SET_PDEATHSIG), so even a `kill -9` of the
benchmark leaves no server behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import psutil

from bench.data import ROOT, Dataset, django_env, sqlite_url
from local_servers import (
    emulator_command,
    free_port,
    lms_site_config,
    nginx_command,
    redis_command,
    stop_process,
    stop_processes,
)

NGINX = "/usr/sbin/nginx"
REDIS_DATABASES = 32
# The per-user stream cap of every LMS and offload nginx the bench starts: evaluated on
# every request, never refusing (the load is synthetic, far above one real player).
STREAMS_PER_USER = os.environ.get("MEDIA_MAX_STREAMS_PER_USER", "1000")
S3_BUCKET = "bench"
PR_SET_PDEATHSIG = 1
# Settings the benchmark decides; the rest of the environment is passed through
# (and reported) so a run can try a setting: `CONN_MAX_AGE=60 make bench`.
LMS_SETTING_PREFIXES = (
    "DCS_",
    "MEDIA_",
    "GUNICORN_",
    "CACHE_URL",
    "CACHE_MAX_ENTRIES",
    "CONN_MAX_AGE",
    "CONN_HEALTH_CHECKS",
)


def _die_with_parent() -> None:
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Processes:
    """Every process started, stopped in reverse order by stop_all()."""

    workdir: Path
    started: list[tuple[subprocess.Popen, int]] = field(default_factory=list)
    cleanups: list = field(default_factory=list)  # callables, run after every process stopped

    def spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, stop=signal.SIGTERM
    ) -> subprocess.Popen:
        log = (self.workdir / f"{name}.log").open("w")
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self.started.append((process, stop))
        return process

    def stop(self, process: subprocess.Popen) -> None:
        for index, (candidate, stop) in enumerate(self.started):
            if candidate is process:
                del self.started[index]
                stop_process(process, stop)
                return

    def stop_all(self) -> None:
        stopping, self.started = list(reversed(self.started)), []
        stop_processes(stopping)
        cleanups, self.cleanups = list(reversed(self.cleanups)), []
        for cleanup in cleanups:
            cleanup()


# --- PostgreSQL -------------------------------------------------------------------


def start_postgres_cluster(procs: Processes):
    """A throwaway cluster (local_servers.postgres), removed when the run ends."""
    from local_servers.postgres import start_postgres

    # 2 servers x 2 workers x up to 128 threads each may hold a persistent connection.
    cluster = start_postgres(max_connections=600, popen_extra={"preexec_fn": _die_with_parent})
    procs.cleanups.append(cluster.remove)
    return cluster


def postgres_version() -> str:
    from local_servers.postgres import postgres_bin

    binary = postgres_bin("postgres")
    if binary is None:
        return "not installed"
    result = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return result.stdout.strip().rsplit(" ", 1)[-1] if result.stdout else "unknown"


# --- nginx ------------------------------------------------------------------------


REFERENCE_SITE = """\
# The reference upstream: the object store served by nginx under DCS's URL
# layout. It checks no token (a benchmark stand-in, not DCS).
server {
    listen $listen;
    sendfile on;
    # tcp_nopush (TCP_CORK) would hold a response's last partial segment on a
    # kept-alive connection until the peer's delayed ACK: +40 ms on about half
    # of the 64 KiB ranges a keep-alive proxy reads. Not DCS's behaviour.
    tcp_nopush off;
    keepalive_requests 100000;

    location ~ ^/storage/books/(?<dcs_publisher>[^/]+)/(?<dcs_book>[^/]+)/object$$ {
        alias $root/$$dcs_publisher/books/$$dcs_book/$$arg_path;
    }
    location = /auth/login {
        proxy_pass http://127.0.0.1:$emulator_port;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
    location = /_nginx_status {
        stub_status;
    }
}
"""


def _start_nginx(procs: Processes, name: str, site: str, port: int) -> subprocess.Popen:
    directory = procs.workdir / name
    directory.mkdir()
    argv = nginx_command(NGINX, directory, "site.conf", site, workers=2, access_log=False)
    return procs.spawn(name, argv, stop=signal.SIGTERM)


def start_reference_nginx(
    procs: Processes,
    storage_root: Path,
    emulator_port: int,
    *,
    name: str = "nginx-reference",
    send_buffer: int = 0,
) -> tuple[subprocess.Popen, int]:
    """`send_buffer`: SO_SNDBUF of its connections (0: the kernel's autotuning, up to
    4 MiB each: DCS's memory, which a remote DCS does not take from the LMS's machine)."""
    port = free_port()
    listen = f"127.0.0.1:{port}" + (f" sndbuf={send_buffer}" if send_buffer else "")
    site = Template(REFERENCE_SITE).substitute(
        listen=listen, root=storage_root, emulator_port=emulator_port
    )
    return _start_nginx(procs, name, site, port), port


def start_offload_nginx(
    procs: Processes, lms_address: str, dcs_address: str, directory_name: str = "nginx-offload"
) -> tuple[subprocess.Popen, int]:
    """The shipped deploy/nginx/lms.conf.template, rendered as deploy/render.py does, with
    the bench's stream cap (the LMS's: see `start_gunicorn`)."""
    port = free_port()
    cap = {"MEDIA_MAX_STREAMS_PER_USER": STREAMS_PER_USER}
    site = lms_site_config(port, lms_address, dcs_address, procs.workdir / "static", "", cap)
    return _start_nginx(procs, directory_name, site, port), port


def nginx_version() -> str:
    result = subprocess.run([NGINX, "-v"], capture_output=True, text=True, check=False)
    return (result.stderr or result.stdout).strip().removeprefix("nginx version: nginx/")


def nginx_accepts(port: int) -> int:
    """Connections the reference nginx accepted so far (stub_status)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_nginx_status", timeout=5) as answer:
        lines = answer.read().decode().splitlines()
    return int(lines[2].split()[0])


# --- redis (the shared cache) ----------------------------------------------------


def start_redis(procs: Processes) -> tuple[subprocess.Popen, int]:
    port = free_port()
    directory = procs.workdir / "redis"
    directory.mkdir()
    redis = shutil.which("redis-server") or "/usr/bin/redis-server"
    # More than the default 16 databases: every LMS server of a run takes its own.
    argv = [*redis_command(redis, port, directory), "--databases", str(REDIS_DATABASES)]
    return procs.spawn("redis", argv, stop=signal.SIGTERM), port


def redis_version() -> str:
    redis = shutil.which("redis-server") or "/usr/bin/redis-server"
    result = subprocess.run([redis, "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"v=(\S+)", result.stdout)
    return match[1] if match else "unknown"


# --- the DCS emulator -------------------------------------------------------------


def start_emulator(procs: Processes, storage_root: Path) -> tuple[subprocess.Popen, int]:
    """Out of process, so it does not share the benchmark's GIL."""
    port = free_port()
    process = procs.spawn(
        "emulator",
        emulator_command(storage_root, port),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stop=signal.SIGTERM,
    )
    return process, port


def start_moto(procs: Processes) -> tuple[subprocess.Popen, int]:
    """The S3 stand-in: moto's server mode, every object in its memory (by default moto
    spills objects over 5 MiB to temporary files, and joining the 256 MiB file's parts on
    disk outlasts the uploader's 30 s read timeout on a busy machine)."""
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(1024 * 1024 * 1024),
    }
    return procs.spawn("moto", argv, env=env), port


def start_s3_emulator(
    procs: Processes, root: Path, s3_endpoint: str
) -> tuple[subprocess.Popen, int, int]:
    """A DCS emulator that uploads `root` into the S3 at `s3_endpoint` when it starts
    (its port listens once the upload is done) and presigns URLs for its store gateway.
    The process, the DCS port and the gateway's port."""
    port, store_port = free_port(), free_port()
    argv = [*emulator_command(root, port), "--s3-endpoint", s3_endpoint]
    argv += ["--s3-bucket", S3_BUCKET, "--store-port", str(store_port)]
    process = procs.spawn(
        "emulator-s3", argv, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stop=signal.SIGTERM
    )
    return process, port, store_port


def emulator_call(port: int, action: str, method: str = "GET", body: dict | None = None) -> dict:
    """The emulator's control endpoint; `body` is sent as JSON (faults: {"hang_all": true})."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/_emulator/{action}",
        data=data,
        headers={"Content-Type": "application/json"} if data else {},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


# --- gunicorn ---------------------------------------------------------------------

GUNICORN_CONFIG = """\
# The shipped deploy/gunicorn.conf.py, with the access log off (as shipped) unless
# a figure measures it on.
import os
import runpy

_shipped = runpy.run_path({path!r})
globals().update({{k: v for k, v in _shipped.items() if not k.startswith("__")}})
accesslog = os.environ.get("BENCH_GUNICORN_ACCESSLOG") or None
# No control socket: the default path ($HOME/.gunicorn/gunicorn.ctl) is one per
# user, and the benchmark must not take it from another gunicorn.
control_socket_disable = True
"""


@dataclass
class Gunicorn:
    name: str
    process: subprocess.Popen
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        return [child.pid for child in psutil.Process(self.process.pid).children()]


def inherited_lms_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(LMS_SETTING_PREFIXES)}


def start_gunicorn(
    procs: Processes,
    name: str,
    data: Dataset,
    dcs_base_url: str,
    *,
    workers: int,
    threads: int,
    database_url: str | None = None,
    **settings: str | None,
) -> Gunicorn:
    """A setting given as None is left to deploy/gunicorn.conf.py (e.g. its bulkhead)."""
    config = procs.workdir / "gunicorn.bench.conf.py"
    if not config.exists():
        config.write_text(GUNICORN_CONFIG.format(path=str(ROOT / "deploy" / "gunicorn.conf.py")))
    port = free_port()
    env = {
        **django_env(database_url or sqlite_url(data.database)),
        "DCS_BASE_URL": dcs_base_url,
        "DCS_EMAIL": "lms@dcs.local",
        "DCS_PASSWORD": "dcs-dev-password",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_THREADS": str(threads),
        # The per-user limits still run on every request (their cost is measured)
        # but never refuse: the load is synthetic, far above one real player.
        "MEDIA_THROTTLE_RATE": os.environ.get("MEDIA_THROTTLE_RATE", "1000000/min"),
        "MEDIA_MAX_STREAMS_PER_USER": STREAMS_PER_USER,
        # The bulkhead too: every thread may serve media (figure 5 runs 100 clients a worker).
        "MEDIA_MAX_CONCURRENT": os.environ.get("MEDIA_MAX_CONCURRENT", str(threads)),
        **settings,
    }
    env = {name: value for name, value in env.items() if value is not None}
    process = procs.spawn(
        name,
        [str(Path(sys.executable).parent / "gunicorn"), "lms.wsgi", "--config", str(config)],
        env=env,
        stop=signal.SIGINT,  # quick shutdown: no 30 s graceful wait for streams
    )
    return Gunicorn(name, process, port)


def gunicorn_version() -> str:
    import gunicorn

    return gunicorn.__version__


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by a process and its children, reaped ones included."""
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        children = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = child.cpu_times()
            total += times.user + times.system
    return total
