"""`python -m bench`: set up, measure figures 1-6 side by side, print one table.

Progress goes to stderr; the table goes to stdout and bench-results/latest.txt.
Exit status 0 when every figure was measured (targets met or not), 1 when a
figure failed to run, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import math
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psutil

from bench import data as bench_data
from bench.data import BIG, BOOK, HUGE, PUBLISHER, RANDOM, ROOT, SIZES, SMALL, Dataset
from bench.load import (
    RANGE_LENGTH,
    TIMEOUT,
    LoadResult,
    LoadSpec,
    SeekSeries,
    Target,
    curl_download,
    finish_curl,
    percentile,
    run_load,
    start_curl,
)
from bench.report import Table, machine_lines
from bench.servers import (
    Gunicorn,
    Processes,
    emulator_call,
    inherited_lms_settings,
    nginx_accepts,
    redis_version,
    start_emulator,
    start_gunicorn,
    start_offload_nginx,
    start_redis,
    start_reference_nginx,
)
from tests.servers import wait_for_port

# 2 gthread workers x 128 threads (enough for 200 streaming clients) unless the
# environment says otherwise: `GUNICORN_THREADS=32 make bench` compares a setting.
WORKERS = int(os.environ.get("GUNICORN_WORKERS") or 2)
THREADS = int(os.environ.get("GUNICORN_THREADS") or 128)
CHUNK_SIZES = {"64 KiB": 64 * 1024, "256 KiB": 256 * 1024, "1 MiB": 1024 * 1024}
THROUGHPUT_TRIES = 3
SEEK_REQUESTS = 300
LOAD_CLIENTS = 200
LOAD_SECONDS = 15.0
RPS_CLIENTS = 32
RPS_SECONDS = 10.0
RPS_ROUNDS = 2
RSS_TARGET_MIB = 16
RPS_TARGET = 0.8
WATCHDOG_SECONDS = 600
MB = 1e6
MiB = 1024 * 1024


class Watchdog(BaseException):
    """The whole run took too long (not an Exception: no figure may swallow it)."""


_STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def ratio(value: float, reference: float, name: str) -> str:
    if not reference or reference != reference:
        return "n/a"
    return f"{value / reference:.2f}x {name}"


def get(target: Target, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One request on a fresh connection (so both gunicorn workers get traffic)."""
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=TIMEOUT)
    try:
        conn.request("GET", path, headers=target.headers(headers))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Bench:
    def __init__(self, workdir: Path, procs: Processes, cache: str = "redis") -> None:
        self.workdir = workdir
        self.procs = procs
        self.cache = cache
        self.table = Table()
        self.failed = False
        self._cache_databases = iter(range(16))

    # --- setup ----------------------------------------------------------------------

    def setup(self) -> None:
        progress("building the object store and the database (migrate)")
        self.data: Dataset = bench_data.build(self.workdir)
        emulator, self.emulator_port = start_emulator(self.procs, self.data.storage_root)
        wait_for_port(self.emulator_port, emulator)
        reference, self.reference_port = start_reference_nginx(
            self.procs, self.data.storage_root, self.emulator_port
        )
        wait_for_port(self.reference_port, reference)
        reference_url = f"http://127.0.0.1:{self.reference_port}"
        emulator_url = f"http://127.0.0.1:{self.emulator_port}"
        if self.cache == "redis":
            redis, self.redis_port = start_redis(self.procs)
            wait_for_port(self.redis_port, redis)

        progress("starting gunicorn (streaming, offload, emulator-backed, 3 chunk sizes)")

        def lms(name: str, dcs: str, **settings: str) -> Gunicorn:
            if self.cache == "redis":  # one database each: no server sees another's entries
                database = next(self._cache_databases)
                settings["CACHE_URL"] = f"redis://127.0.0.1:{self.redis_port}/{database}"
            return start_gunicorn(
                self.procs, name, self.data, dcs, workers=WORKERS, threads=THREADS, **settings
            )

        self.django = lms("gunicorn-django", reference_url)
        self.offload_app = lms("gunicorn-offload", reference_url, MEDIA_NGINX_OFFLOAD="true")
        self.django_emu = lms("gunicorn-emulator", emulator_url)
        self.sweep = {
            label: lms(f"gunicorn-chunk-{size}", reference_url, MEDIA_CHUNK_SIZE=str(size))
            for label, size in CHUNK_SIZES.items()
        }
        for server in [self.django, self.offload_app, self.django_emu, *self.sweep.values()]:
            wait_for_port(server.port, server.process, timeout=90)
        offload_nginx, offload_port = start_offload_nginx(
            self.procs, self.offload_app.address, f"127.0.0.1:{self.reference_port}"
        )
        wait_for_port(offload_port, offload_nginx)

        dcs_prefix = f"/storage/books/{PUBLISHER}/{BOOK}/object?path="
        lms_prefix = f"/api/v1/books/{self.data.book_id}/media/"
        bearer = f"Bearer {self.data.token}"
        self.direct = Target("direct (nginx)", self.reference_port, dcs_prefix)
        self.emulator = Target(
            "emulator (direct)", self.emulator_port, dcs_prefix, f"Bearer {self._dcs_token()}"
        )
        self.django_t = Target("django", self.django.port, lms_prefix, bearer)
        self.offload = Target("offload (nginx+django)", offload_port, lms_prefix, bearer)
        self.django_emu_t = Target("django->emulator", self.django_emu.port, lms_prefix, bearer)
        self.sweep_t = {
            label: Target(f"django chunk {label}", server.port, lms_prefix, bearer)
            for label, server in self.sweep.items()
        }
        self.me_django = Target("/api/v1/me (django)", self.django.port, "/api/v1/me", bearer)
        self.me_offload = Target("/api/v1/me (offload)", offload_port, "/api/v1/me", bearer)

        progress("warming up and checking every path returns the right bytes")
        lms_targets = [self.django_t, self.offload, self.django_emu_t, *self.sweep_t.values()]
        for target in [self.direct, self.emulator, *lms_targets]:
            self._check_and_warm(target)
        for target in [self.me_django, self.me_offload]:
            for _ in range(4):
                status, _ = get(target, target.prefix)
                if status != 200:
                    raise RuntimeError(f"{target.label} answered {status}")

    def _dcs_token(self) -> str:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.emulator_port}/auth/login",
            data=json.dumps({"email": "lms@dcs.local", "password": "dcs-dev-password"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())["access_token"]

    def _check_and_warm(self, target: Target) -> None:
        """A few fresh connections: logs in, fills the size cache, emulator ETags; checks bytes."""
        for _ in range(6):
            status, body = get(target, target.path(SMALL))
            if status != 200 or body != self.data.small_content:
                raise RuntimeError(
                    f"{target.label}: {SMALL} came back wrong ({status}, {len(body)} bytes):"
                    f" {body[:200]!r}"
                )
            for name in (BIG, HUGE, RANDOM):
                status, body = get(target, target.path(name), {"Range": "bytes=0-0"})
                if status != 206 or len(body) != 1:
                    raise RuntimeError(f"{target.label}: {name} bytes=0-0 gave {status}")

    # --- figures --------------------------------------------------------------------

    def figure(self, number: str, title: str, measure: Callable[[], None]) -> None:
        progress(f"figure {number}: {title}")
        try:
            measure()
        except Exception as error:  # one broken figure must not hide the others
            self.failed = True
            traceback.print_exc(file=sys.stderr)
            self.table.add(number, title, f"FAILED: {type(error).__name__}: {error}"[:120])

    def throughput(self) -> None:
        """Single stream of the 256 MiB file through curl, best of 3, rounds interleaved."""
        fig = "1 throughput"
        targets = [
            self.direct,
            self.emulator,
            self.django_t,
            self.offload,
            self.django_emu_t,
            *self.sweep_t.values(),
        ]
        best: dict[str, float] = {}
        worst: dict[str, float] = {}
        problems: Counter[str] = Counter()
        for _ in range(THROUGHPUT_TRIES):
            for target in targets:
                result = curl_download(target.url(target.path(BIG)), target.headers())
                if result.status != 200 or result.size != SIZES[BIG]:
                    problems[f"{target.label}: {result.status}, {result.size} bytes"] += 1
                    continue
                best[target.label] = max(best.get(target.label, 0.0), result.speed / MB)
                worst[target.label] = min(worst.get(target.label, math.inf), result.speed / MB)
        reference = best.get(self.direct.label, 0.0)
        for target in targets:
            if target.label not in best:
                self.table.add(fig, target.label, "no complete download")
                continue
            mbps = best[target.label]
            shown = (
                "1.00 (reference)" if target is self.direct else ratio(mbps, reference, "direct")
            )
            value = f"{mbps:,.0f} MB/s (worst of {THROUGHPUT_TRIES}: {worst[target.label]:,.0f})"
            self.table.add(fig, f"{target.label}, 256 MiB", value, shown)
        sweep = {label: best.get(t.label, 0.0) for label, t in self.sweep_t.items()}
        winner = max(sweep, key=sweep.get)
        self.best_chunk = winner
        self.table.add(
            fig,
            "best MEDIA_CHUNK_SIZE",
            winner,
            ", ".join(f"{label} {mbps / sweep[winner]:.2f}" for label, mbps in sweep.items()),
        )
        for problem, count in problems.items():
            self.table.notes.append(f"figure 1: {count} download(s) failed: {problem}")
        self.table.notes.append(
            f"figure 1: curl -o /dev/null, %{{speed_download}}, best of {THROUGHPUT_TRIES}"
            " rounds that take every path in turn; the chunk rows are separate gunicorns with"
            " MEDIA_CHUNK_SIZE set (the django row uses the default)."
        )

    def seek_latency(self) -> None:
        """TTFB of 64 KiB ranges at random offsets, one keep-alive connection per path."""
        fig = "2 seek TTFB"
        rng = random.Random(2)
        offsets = [rng.randrange(0, SIZES[RANDOM] - RANGE_LENGTH + 1) for _ in range(SEEK_REQUESTS)]
        content = self.data.random_content
        media = [
            SeekSeries(target, RANDOM, SIZES[RANDOM], content)
            for target in (self.direct, self.django_t, self.offload, self.django_emu_t)
        ]
        plain = [SeekSeries(target, None, 0, None) for target in (self.me_django, self.me_offload)]
        rounds = 3
        per_round = SEEK_REQUESTS // rounds
        try:
            for index in range(rounds):
                for series in media + plain:
                    series.fresh_connection()  # idle since the last round: servers may close it
                for series in media:
                    series.range_reads(offsets[index * per_round : (index + 1) * per_round])
                for series in plain:
                    series.plain_gets(per_round)
        finally:
            for series in media + plain:
                series.close()
        direct, me = media[0], plain[0]
        for quantile, name in ((0.5, "p50"), (0.99, "p99")):
            ref_direct = percentile(direct.ttfb, quantile)
            ref_me = percentile(me.ttfb, quantile)
            for series in media + plain:
                value = percentile(series.ttfb, quantile)
                if series is direct:
                    shown = f"1.00 (reference), {ratio(value, ref_me, '/me')}"
                else:
                    shown = f"{ratio(value, ref_direct, 'direct')}, {ratio(value, ref_me, '/me')}"
                label = series.target.label + (
                    ", 64 KiB range" if series in media else ", minimal view"
                )
                self.table.add(fig, f"{label} {name}", ms(value), shown)
        for series in media + plain:
            if series.errors:
                self.failed = True
                self.table.notes.append(
                    f"figure 2: {series.target.label} errors: {dict(series.errors)}"
                )
        self.table.notes.append(
            f"figure 2: {SEEK_REQUESTS} requests per path over one keep-alive http.client"
            " connection, 3 interleaved rounds; TTFB = send to first body byte; every"
            " range byte-checked."
        )

    def upstream_counts(self) -> None:
        """Upstream requests and new upstream connections per client request (emulator)."""
        fig = "3 upstream use"
        content = self.data.small_content
        size = len(content)
        shapes = [
            (None, 200, content),
            ("bytes=0-1", 206, content[:2]),
            ("bytes=1000-", 206, content[1000:]),
            ("bytes=-500", 206, content[-500:]),
            (f"bytes=1000-{size * 10}", 206, content[1000:]),  # last position past the end
        ]
        target = self.django_emu_t

        def one_round() -> None:
            for range_header, status, body in shapes:
                headers = {"Range": range_header} if range_header else None
                got_status, got_body = get(target, target.path(SMALL), headers)
                if got_status != status or got_body != body:
                    raise RuntimeError(f"{range_header}: {got_status}, {len(got_body)} bytes")

        for _ in range(10):
            one_round()
        emulator_call(self.emulator_port, "reset", "POST")
        for _ in range(20):
            one_round()
        requests = 20 * len(shapes)
        stats = emulator_call(self.emulator_port, "stats")
        upstream = stats["requests"] / requests
        connections = stats["connections_opened"] / requests
        self.table.add(
            fig,
            "django->emulator, upstream requests / client request",
            f"{upstream:.2f} ({stats['requests']} for {requests}; logins {stats['logins']})",
            "",
            "1",
            upstream <= 1.0,
        )
        self.table.add(
            fig,
            "django->emulator, new upstream connections / client request",
            f"{connections:.2f} ({stats['connections_opened']} for {requests})",
            "",
            "0",
            stats["connections_opened"] == 0,
        )
        asked = Counter(
            re.sub(r"\d+", "N", record["headers"].get("Range", "none"))
            for record in stats["records"]
        )
        self.table.notes.append(
            "figure 3: after 50 warm-up requests, 100 requests (20 x: whole file, bytes=0-1,"
            " bytes=1000-, bytes=-500, bytes=1000-<past end>) of a 300 KiB file, each on a new"
            f" client connection; upstream Range headers seen: {dict(asked)}"
        )

    def rss_growth(self) -> None:
        """Peak RSS growth of the gunicorn workers while streaming the 1 GiB file."""
        fig = "4 worker RSS"
        servers = [(self.django, self.django_t)] + [
            (self.sweep[label], target) for label, target in self.sweep_t.items()
        ]
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
            self.table.add(
                fig,
                f"{target.label}, 1 GiB stream",
                f"{growth:.2f} MiB ({result.speed / MB:,.0f} MB/s, {samples} samples)",
                "",
                f"<= {RSS_TARGET_MIB} MiB",
                growth <= RSS_TARGET_MIB,
            )

    def concurrency(self) -> None:
        """200 clients: random 64 KiB ranges, every 10th op a full play; every byte checked."""
        fig = "5 200 clients"
        results = {}
        for target in (self.direct, self.django_t, self.offload):
            logs = self._pool_full_warnings()
            accepts = nginx_accepts(self.reference_port)
            start = time.monotonic() + 1.0
            spec = LoadSpec(
                port=target.port,
                headers=target.headers(),
                path=target.path(RANDOM),
                kind="media",
                content=self.data.random_content,
                full_every=10,
                start_at=start,
                end_at=start + LOAD_SECONDS,
                authorizations=self._authorizations(target),
            )
            result, elapsed = run_load(spec, LOAD_CLIENTS)
            upstream_connections = nginx_accepts(self.reference_port) - accepts - 1
            results[target.label] = (
                result,
                elapsed,
                upstream_connections,
                self._pool_full_warnings() - logs,
            )
        ref_result, ref_elapsed, _, _ = results[self.direct.label]
        ref_mbps = ref_result.bytes / ref_elapsed / MB
        ref_p99 = percentile(ref_result.ttfb.get("range", []), 0.99)
        for label, (result, elapsed, upstream_connections, pool_full) in results.items():
            ops = sum(result.ops.values())
            errors = sum(result.errors.values())
            mbps = result.bytes / elapsed / MB
            is_ref = label == self.direct.label
            self.table.add(
                fig,
                f"{label}, aggregate",
                f"{mbps:,.0f} MB/s, {ops / elapsed:,.0f} ops/s ({result.ops['range']} ranges"
                f" + {result.ops['full']} full plays in {elapsed:.1f} s)",
                "1.00 (reference)" if is_ref else ratio(mbps, ref_mbps, "direct"),
            )
            p99 = percentile(result.ttfb.get("range", []), 0.99)
            p99_full = percentile(result.ttfb.get("full", []), 0.99)
            self.table.add(
                "",
                f"{label}, p99 TTFB",
                f"range {ms(p99)}, full play {ms(p99_full)}",
                "1.00 (reference)" if is_ref else ratio(p99, ref_p99, "direct"),
            )
            shown = f"{errors} in {ops + errors} ops"
            if result.errors:
                shown += " " + ", ".join(f"{k}: {v}" for k, v in result.errors.most_common(4))
            self.table.add("", f"{label}, errors", shown, "", "0", errors == 0)
            if not is_ref:
                self.table.add(
                    "",
                    f"{label}, new upstream connections / op",
                    f"{upstream_connections / max(ops, 1):.3f} ({upstream_connections} for {ops};"
                    f" urllib3 'pool is full' warnings: {pool_full})",
                )
        self.table.notes.append(
            f"figure 5: {LOAD_CLIENTS} client threads in 2 forked Python processes, one"
            f" keep-alive connection each, {LOAD_SECONDS:.0f} s per path; every received byte"
            " compared with the file; full plays still running at the deadline are cut and"
            " not counted as errors. Clients and servers share the same cores, so these are"
            " ratios under a shared CPU budget, not server capacity. New upstream connections ="
            " accepted by the reference nginx during the run (stub_status), filling each"
            " worker's pool included; 'pool is full' = urllib3 dropped a connection because"
            " more requests were in flight in a worker than DCS_POOL_SIZE."
        )

    def _authorizations(self, target: Target) -> list[str] | None:
        """One reader per client thread (the direct upstream takes no token)."""
        if target.authorization is None or target is self.emulator:
            return None
        return [f"Bearer {token}" for token in self.data.tokens]

    def _pool_full_warnings(self) -> int:
        count = 0
        for name in ("gunicorn-django", "gunicorn-offload"):
            path = self.workdir / f"{name}.log"
            if path.exists():
                count += path.read_text(errors="replace").count("Connection pool is full")
        return count

    def requests_per_second(self) -> None:
        """Offload mode: 64 KiB media ranges vs the minimal authenticated view, via nginx."""
        fig = "6 req/s"
        pairs = [(self.offload, self.me_offload), (self.django_t, self.me_django)]
        for media_target, me_target in pairs:
            totals = {kind: (LoadResult(), [0.0]) for kind in ("media", "plain")}
            for _ in range(RPS_ROUNDS):  # alternating slices: drift hits both rows alike
                for target, kind in ((media_target, "media"), (me_target, "plain")):
                    start = time.monotonic() + 0.5
                    spec = LoadSpec(
                        port=target.port,
                        headers=target.headers(),
                        path=target.path(RANDOM) if kind == "media" else target.prefix,
                        kind=kind,
                        content=self.data.random_content,
                        start_at=start,
                        end_at=start + RPS_SECONDS / RPS_ROUNDS,
                        authorizations=self._authorizations(target),
                    )
                    result, elapsed = run_load(spec, RPS_CLIENTS)
                    totals[kind][0].merge(result)
                    totals[kind][1][0] += elapsed
            rates = {}
            for kind, (result, (elapsed,)) in totals.items():
                ops = sum(result.ops.values())
                errors = sum(result.errors.values())
                rates[kind] = (ops / elapsed, errors, percentile(result.all_ttfb(), 0.99))
            media_rate, media_errors, media_p99 = rates["media"]
            me_rate, me_errors, me_p99 = rates["plain"]
            is_offload = media_target is self.offload
            self.table.add(
                fig if is_offload else "",
                f"{media_target.label}, 64 KiB ranges",
                f"{media_rate:,.0f} req/s (p99 {ms(media_p99)}, errors {media_errors})",
                ratio(media_rate, me_rate, "/me"),
                f">= {RPS_TARGET:.2f}x /me" if is_offload else "",
                (media_rate / me_rate >= RPS_TARGET and media_errors == 0) if is_offload else None,
            )
            self.table.add(
                "",
                f"{me_target.label}",
                f"{me_rate:,.0f} req/s (p99 {ms(me_p99)}, errors {me_errors})",
                "1.00 (reference)",
            )
        self.table.notes.append(
            f"figure 6: {RPS_CLIENTS} keep-alive clients (2 processes), {RPS_SECONDS:.0f} s per"
            f" row in {RPS_ROUNDS} alternating slices, ranges byte-checked; the django rows"
            " (streaming mode, no nginx) are extra."
        )

    def run(self, only: set[str] | None = None) -> None:
        self.setup()
        figures = [
            ("1", "single-stream throughput", self.throughput),
            ("2", "seek latency", self.seek_latency),
            ("3", "upstream requests and connections", self.upstream_counts),
            ("4", "worker RSS while streaming 1 GiB", self.rss_growth),
            ("5", "200 concurrent clients", self.concurrency),
            ("6", "offload requests per second", self.requests_per_second),
        ]
        for number, title, measure in figures:
            if number == "5":  # the chunk-size servers are done: no idle workers under load
                for server in self.sweep.values():
                    self.procs.stop(server.process)
            if only is None or number in only:
                self.figure(number, title, measure)

    def general_notes(self) -> list[str]:
        inherited = inherited_lms_settings()
        return [
            "MB = 10^6 bytes. Every ratio is to a reference measured in this same run.",
            "direct = nginx serving the object store under DCS's URL layout (sendfile; it checks"
            " no token: a stand-in for DCS, not DCS). django, offload and the chunk sweep read"
            " from it; django->emulator reads from the DCS emulator (Python, 32 KiB chunks).",
            f"LMS: gunicorn {WORKERS} gthread workers x {THREADS} threads (deploy/gunicorn.conf.py,"
            " access log off), DEBUG off, LOG_LEVEL=WARNING, SQLite (CONN_MAX_AGE default),"
            + (
                f" cache redis {redis_version()} (one redis-server, a database per LMS server)"
                if self.cache == "redis"
                else " cache: per-process locmem (or CACHE_URL from the environment)"
            )
            + "; offload = the shipped deploy/nginx/lms.conf.template (nginx: 2 workers,"
            " access log off).",
            f"{bench_data.USERS} readers, each with a DRF token and the book assigned; load"
            " clients each use their own. MEDIA_THROTTLE_RATE=1000000/min and"
            " MEDIA_MAX_STREAMS_PER_USER=1000: the limits are evaluated on every request but"
            " never refuse (the load is far above one real player).",
            "Clients, servers and upstreams all share this machine's cores and loopback.",
            "LMS settings inherited from the environment: "
            + (", ".join(f"{k}={v}" for k, v in sorted(inherited.items())) or "none"),
        ]


def foreign_cpu(cpu_before, own_before, elapsed: float) -> tuple[float, float]:
    """Shares of the machine's CPU used by processes outside the benchmark, and stolen.

    All the benchmark's processes have been waited for by now, so os.times()
    counts them (and their children) in children_user/children_system.
    """
    cpu_after, own_after = psutil.cpu_times(), os.times()
    busy = sum(
        getattr(cpu_after, name, 0.0) - getattr(cpu_before, name, 0.0)
        for name in ("user", "nice", "system")
    )
    own = sum(
        getattr(own_after, name) - getattr(own_before, name)
        for name in ("user", "system", "children_user", "children_system")
    )
    steal = getattr(cpu_after, "steal", 0.0) - getattr(cpu_before, "steal", 0.0)
    capacity = elapsed * (os.cpu_count() or 1)
    return max(0.0, busy - own) / capacity, steal / capacity


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    load_before = os.getloadavg()
    cpu_before, own_before = psutil.cpu_times(), os.times()
    started = datetime.datetime.now(datetime.UTC)
    began = time.monotonic()

    def on_term(signum, frame):
        raise KeyboardInterrupt

    def on_alarm(signum, frame):
        raise Watchdog(f"the benchmark ran longer than {WATCHDOG_SECONDS} s")

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(WATCHDOG_SECONDS)
    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-"))
    workdir.chmod(0o755)  # nginx workers drop root: they must reach the object store
    procs = Processes(workdir)
    bench = Bench(workdir, procs, cache=args.cache)
    try:
        bench.run(only)
    except KeyboardInterrupt:
        print("interrupted: stopping every server", file=sys.stderr)
        return 130
    except (Exception, Watchdog):
        traceback.print_exc(file=sys.stderr)
        print(f"the benchmark failed; server logs in {workdir}", file=sys.stderr)
        bench.failed = True
        workdir = None  # keep the logs
        return 1
    finally:
        signal.alarm(0)
        procs.stop_all()
        if workdir is not None and not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - began
    other, steal = foreign_cpu(cpu_before, own_before, elapsed)
    bench.table.notes = bench.general_notes() + bench.table.notes
    header = [
        "LMS media proxy benchmark (make bench)",
        *machine_lines(started),
        f"run:     {elapsed:.0f} s" + (f", figures {args.only} only" if only else ""),
        f"noise:   load average {load_before[0]:.2f} before the run; other processes used"
        f" {other:.0%} of the machine's CPU during it, steal {steal:.0%}"
        + (" -- NOISY: rerun on a quiet machine" if other > 0.10 or steal > 0.05 else ""),
    ]
    text = bench.table.render(header)
    print(text)
    results = ROOT / "bench-results"
    results.mkdir(exist_ok=True)
    if only is None:
        (results / "latest.txt").write_text(text)
    return 1 if bench.failed else 0
