"""From the figures' data to the table's rows and notes: every ratio, target and note.

One function per figure turns its result (bench/results.py) into a `Section`;
`general_notes` says how the whole run was set up. bench/table.py lays it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.clients import percentile
from bench.config import (
    DEFAULTS_SECONDS,
    LOAD_CLIENTS,
    LOAD_SECONDS,
    MB,
    PLAIN_TARGETS,
    PLAIN_VIEW,
    RPS_CLIENTS,
    RPS_ROUNDS,
    RPS_SECONDS,
    RSS_TARGET_MIB,
    SEEK_REQUESTS,
    SEEK_ROUNDS,
    SERVING_MODEL_CLIENTS,
    THREADS,
    THROUGHPUT_TRIES,
    UPSTREAM_ROUNDS,
    UPSTREAM_WARMUP_ROUNDS,
    WORKER_CLASS,
    WORKERS,
)
from bench.data import USERS
from bench.results import (
    ConcurrentPath,
    Defaults,
    RequestCost,
    RequestCosts,
    RssGrowth,
    SeekLatency,
    Throughput,
    UpstreamPair,
    UpstreamUse,
)
from bench.table import Row, row

REFERENCE = "1.00 (reference)"

# How each figure is measured, as the notes under the table say it.
FIGURE_NOTES = {
    "1": f"figure 1: curl -o /dev/null, %{{speed_download}}, best of {THROUGHPUT_TRIES}"
    " rounds that take every path in turn; the chunk rows are separate gunicorns with"
    " MEDIA_CHUNK_SIZE set (the django row uses the default).",
    "2": f"figure 2: {SEEK_REQUESTS} requests per path over one keep-alive http.client"
    f" connection, {SEEK_ROUNDS} interleaved rounds; TTFB = send to first body byte; every"
    " range byte-checked.",
    "3": f"figure 3: after {UPSTREAM_WARMUP_ROUNDS * 5} warm-up requests,"
    f" {UPSTREAM_ROUNDS * 5} requests ({UPSTREAM_ROUNDS} x: whole file, bytes=0-1,"
    " bytes=1000-, bytes=-500, bytes=1000-<past end>) of a 300 KiB file, each on a new"
    " client connection; upstream Range headers seen: ",
    "5": f"figure 5: {LOAD_CLIENTS} client threads in 2 forked Python processes, one"
    f" keep-alive connection each, {LOAD_SECONDS:.0f} s per path; every received byte"
    " compared with the file; full plays still running at the deadline are cut and"
    " not counted as errors. Clients and servers share the same cores, so these are"
    " ratios under a shared CPU budget, not server capacity. New upstream connections ="
    " accepted by the reference nginx during the run (stub_status), filling each"
    " worker's pool included; 'pool is full' = urllib3 dropped a connection because"
    " more requests were in flight in a worker than DCS_POOL_SIZE.",
    "6": f"figure 6: {RPS_CLIENTS} keep-alive clients (2 processes), one reader each, "
    f"{RPS_SECONDS:.0f} s per row in {RPS_ROUNDS} rounds that take every row of a database in "
    "turn; ranges byte-checked. The reference is the plain view (/ping: every middleware, "
    "no database, no cache) on the streaming gunicorn; streamed rows and /me run on that "
    "gunicorn, offloaded rows through the shipped nginx template in front of an offload "
    "gunicorn on the same database. 'x plain' = requests per second as a share of the plain "
    "view's (what the targets judge); 'CPU' = the same share of requests per CPU second of "
    "the LMS's own processes (gunicorn, and nginx for the nginx rows), which the load "
    "clients' own CPU does not blur. 'redis/db' = redis-server and PostgreSQL CPU per request"
    " (SQLite runs inside the workers). 'ms vs SQLite' (PostgreSQL rows) = the LMS's and"
    " the database's CPU per request less the same row's on SQLite in the same run: what"
    " its statements cost over SQLite's, which run inside the worker.",
    "6 upstreams": "figure 6, the last two SQLite rows: 64 KiB ranges by bearer from the"
    " emulator-backed gunicorn (DCS's object endpoint) and from the presigned one, each on"
    " its own gunicorn (2 x 128 threads, same settings), of the 300 KiB file (moto reads the"
    " whole object per GET: with the 16 MiB file its copy would be the measurement, see"
    " figure 2's floors); 'from direct' = requests per second"
    " as a share of 'streamed 64 KiB range, bearer' (the same view reading the reference"
    " nginx); 'upstream' = CPU per request of the upstream's processes (the emulator; the"
    " S3-backed emulator with its gateway, and moto).",
    "7": f"figure 7: each row {DEFAULTS_SECONDS:.0f} s, rows of a setting interleaved. Worker"
    f" class: gunicorn without nginx ({SERVING_MODEL_CLIENTS} clients, bearer, 64 KiB ranges;"
    " 'offloaded' = answered with X-Accel-Redirect, Django's whole decision, no bytes moved,"
    " each request carrying nginx's X-Media-Offload-Secret), gevent as shipped against"
    " gthread with the threads it would ship with; figure 8 is why gevent ships. Access log:"
    " gunicorn's own log line to a file vs none. CONN_MAX_AGE: a connection opened per"
    " request vs the persistent default (with health checks). MEDIA_CHUNK_SIZE comes from"
    " figure 1's sweep.",
}


@dataclass
class Section:
    """One figure's part of the table."""

    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    failed: bool = False  # the figure saw errors that make it unreliable


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def ratio(value: float, reference: float, name: str) -> str:
    if not reference or reference != reference:
        return "n/a"
    return f"{value / reference:.2f}x {name}"


def throughput(result: Throughput) -> Section:
    fig, reference_path = "1 throughput", result.paths[0]
    reference = result.best.get(reference_path, 0.0)
    rows = []
    for path in result.paths:
        if path not in result.best:
            rows.append(row(fig, path, "no complete download"))
            continue
        mbps = result.best[path]
        shown = REFERENCE if path == reference_path else ratio(mbps, reference, "direct")
        value = f"{mbps:,.0f} MB/s (worst of {THROUGHPUT_TRIES}: {result.worst[path]:,.0f})"
        rows.append(row(fig, f"{path}, 256 MiB", value, shown))
    sweep = {chunk: result.best.get(path, 0.0) for chunk, path in result.chunk_paths.items()}
    winner = max(sweep, key=sweep.get)
    shares = ", ".join(
        f"{chunk} {mbps / sweep[winner]:.2f}" if sweep[winner] else f"{chunk} n/a"
        for chunk, mbps in sweep.items()
    )
    rows.append(row(fig, "best MEDIA_CHUNK_SIZE", winner, shares))
    if result.pair is not None:
        rows += _throughput_pair(fig, result.pair, result.best, reference)
    notes = [
        f"figure 1: {count} download(s) failed: {problem}"
        for problem, count in result.failures.items()
    ]
    return Section(rows, [*notes, FIGURE_NOTES["1"]])


def _share(value: float | None, reference: float | None) -> str:
    """`value` as a multiple of `reference`, "n/a" when either is missing."""
    if not value or not reference or value != value or reference != reference:
        return "n/a"
    return f"{value / reference:.2f}x"


def _throughput_pair(
    fig: str, pair: UpstreamPair, best: dict[str, float], reference: float
) -> list[Row]:
    """Presigned against DCS's endpoint, both against direct: the LMS, then the upstreams."""
    lms = (best.get(pair.presigned), best.get(pair.endpoint))
    floor = (best.get(pair.presigned_floor), best.get(pair.endpoint_floor))
    return [
        row(
            fig,
            "presigned vs DCS endpoint: the LMS, 256 MiB",
            f"{pair.presigned} {_share(lms[0], reference)} direct,"
            f" {pair.endpoint} {_share(lms[1], reference)} direct",
            f"{_share(*lms)} {pair.endpoint}",
        ),
        row(
            fig,
            "presigned vs DCS endpoint: upstream alone, 256 MiB",
            f"{pair.presigned_floor} {_share(floor[0], reference)} direct,"
            f" {pair.endpoint_floor} {_share(floor[1], reference)} direct",
            f"{_share(*floor)} {pair.endpoint_floor}",
        ),
        row(
            fig,
            "presigned vs DCS endpoint: LMS / its upstream",
            f"presigned {_share(lms[0], floor[0])}, DCS endpoint {_share(lms[1], floor[1])}",
        ),
    ]


def _seek_pair(fig: str, pair: UpstreamPair, result: SeekLatency) -> list[Row]:
    """Per quantile: presigned against DCS's endpoint, both against direct; the floors;
    and the milliseconds the LMS adds to each upstream."""
    ttfb = {series.path: series.ttfb for series in result.series if series.kind == "range"}
    rows = []
    for quantile, name in ((0.5, "p50"), (0.99, "p99")):
        at = {path: percentile(values, quantile) for path, values in ttfb.items()}
        direct = at[result.series[0].path]
        lms = (at[pair.presigned], at[pair.endpoint])
        floor = (at[pair.presigned_floor], at[pair.endpoint_floor])
        rows += [
            row(
                fig,
                f"presigned vs DCS endpoint: the LMS, {name}",
                f"{pair.presigned} {ms(lms[0])} ({_share(lms[0], direct)} direct),"
                f" {pair.endpoint} {ms(lms[1])} ({_share(lms[1], direct)} direct)",
                f"{_share(*lms)} {pair.endpoint}",
            ),
            row(
                fig,
                f"presigned vs DCS endpoint: upstream alone, {name}",
                f"{pair.presigned_floor} {ms(floor[0])} ({_share(floor[0], direct)} direct),"
                f" {pair.endpoint_floor} {ms(floor[1])} ({_share(floor[1], direct)} direct)",
                f"{_share(*floor)} {pair.endpoint_floor}",
            ),
            row(
                fig,
                f"presigned vs DCS endpoint: LMS - its upstream, {name}",
                f"presigned {(lms[0] - floor[0]) * 1000:+.2f} ms,"
                f" DCS endpoint {(lms[1] - floor[1]) * 1000:+.2f} ms",
            ),
        ]
    return rows


def _seek_target(fig: str, result: SeekLatency) -> Row:
    """Issue 14's target: a streamed seek's p50 within 1.5 x the plain view's p50 plus
    its upstream's own p50 (the direct nginx the streaming LMS reads)."""
    p50 = {series.path: percentile(series.ttfb, 0.5) for series in result.series}
    seek, plain, upstream = p50["django"], p50[PLAIN_VIEW], p50[result.series[0].path]
    bound = 1.5 * plain + upstream
    return row(
        fig,
        "django seek p50 against the plain view",
        f"{ms(seek)} against 1.5 x {ms(plain)} + {ms(upstream)} = {ms(bound)}",
        f"{_share(seek, bound)} the bound",
        target="<= 1.5x plain + upstream",
        met=seek <= bound,
    )


def seek_latency(result: SeekLatency) -> Section:
    fig, rows = "2 seek TTFB", []
    direct = result.series[0]
    me = next(series for series in result.series if series.kind == "view")
    suffix = {"range": ", 64 KiB range", "view": ", minimal view"}
    for quantile, name in ((0.5, "p50"), (0.99, "p99")):
        ref_direct = percentile(direct.ttfb, quantile)
        ref_me = percentile(me.ttfb, quantile)
        for series in result.series:
            value = percentile(series.ttfb, quantile)
            to_me = ratio(value, ref_me, "/me")
            shown = REFERENCE if series is direct else ratio(value, ref_direct, "direct")
            label = f"{series.path}{suffix[series.kind]} {name}"
            rows.append(row(fig, label, ms(value), f"{shown}, {to_me}"))
    rows.append(_seek_target(fig, result))
    if result.pair is not None:
        rows += _seek_pair(fig, result.pair, result)
    notes = [f"figure 2: {path} errors: {errors}" for path, errors in result.errors.items()]
    return Section(rows, [*notes, FIGURE_NOTES["2"]], failed=bool(result.errors))


def upstream_use(result: UpstreamUse) -> Section:
    fig, requests = "3 upstream use", result.client_requests
    upstream = result.upstream_requests / requests
    connections = result.connections_opened / requests
    rows = [
        row(
            fig,
            f"{result.path}, upstream requests / client request",
            f"{upstream:.2f} ({result.upstream_requests} for {requests}; logins {result.logins})",
            target="1",
            met=upstream <= 1.0,
        ),
        row(
            fig,
            f"{result.path}, new upstream connections / client request",
            f"{connections:.2f} ({result.connections_opened} for {requests})",
            target="0",
            met=result.connections_opened == 0,
        ),
    ]
    return Section(rows, [FIGURE_NOTES["3"] + str(result.upstream_ranges)])


def rss_growth(result: list[RssGrowth]) -> Section:
    rows = [
        row(
            "4 worker RSS",
            f"{item.path}, 1 GiB stream",
            f"{item.growth_mib:.2f} MiB ({item.mbps:,.0f} MB/s, {item.samples} samples)",
            target=f"<= {RSS_TARGET_MIB} MiB",
            met=item.growth_mib <= RSS_TARGET_MIB,
        )
        for item in result
    ]
    return Section(rows)


def concurrency(result: list[ConcurrentPath]) -> Section:
    reference = result[0]
    ref_mbps = reference.result.bytes / reference.elapsed / MB
    ref_p99 = percentile(reference.result.ttfb.get("range", []), 0.99)
    rows = []
    for item in result:
        rows += _concurrent_rows(item, item is reference, ref_mbps, ref_p99)
    return Section(rows, [FIGURE_NOTES["5"]])


def _concurrent_rows(
    item: ConcurrentPath, is_reference: bool, ref_mbps: float, ref_p99: float
) -> list[Row]:
    load, label = item.result, item.path
    ops, errors = sum(load.ops.values()), sum(load.errors.values())
    mbps = load.bytes / item.elapsed / MB
    p99 = percentile(load.ttfb.get("range", []), 0.99)
    p99_full = percentile(load.ttfb.get("full", []), 0.99)
    shown_errors = f"{errors} in {ops + errors} ops"
    if load.errors:
        shown_errors += " " + ", ".join(f"{k}: {v}" for k, v in load.errors.most_common(4))
    rows = [
        row(
            "5 200 clients",
            f"{label}, aggregate",
            f"{mbps:,.0f} MB/s, {ops / item.elapsed:,.0f} ops/s ({load.ops['range']} ranges"
            f" + {load.ops['full']} full plays in {item.elapsed:.1f} s)",
            REFERENCE if is_reference else ratio(mbps, ref_mbps, "direct"),
        ),
        row(
            "",
            f"{label}, p99 TTFB",
            f"range {ms(p99)}, full play {ms(p99_full)}",
            REFERENCE if is_reference else ratio(p99, ref_p99, "direct"),
        ),
        row("", f"{label}, errors", shown_errors, "", "0", errors == 0),
    ]
    if item.upstream_connections is not None:
        rows.append(
            row(
                "",
                f"{label}, new upstream connections / op",
                f"{item.upstream_connections / max(ops, 1):.3f} ({item.upstream_connections}"
                f" for {ops}; urllib3 'pool is full' warnings: {item.pool_full_warnings})",
            )
        )
    return rows


def _cost_value(item: RequestCost) -> str:
    errors = ", ".join(f"{kind}: {count}" for kind, count in item.error_kinds.items())
    upstream = f", upstream {item.upstream_cpu_ms:.2f}" if item.upstream_cpu_ms is not None else ""
    return (
        f"{item.per_second:,.0f} req/s, CPU {item.lms_cpu_ms:.2f} ms/req"
        f" (+ redis/db {item.support_cpu_ms:.2f}{upstream}), p99 {ms(item.p99)},"
        f" errors {item.errors}" + (f" ({errors})" if errors else "")
    )


def _versus(item: RequestCost, reference: RequestCost, name: str) -> str:
    if not reference.per_second or not item.per_second or not item.lms_cpu_ms:
        return "n/a"
    return (
        f"{item.per_second / reference.per_second:.2f}x {name}"
        f" (CPU {reference.lms_cpu_ms / item.lms_cpu_ms:.2f}x)"
    )


def _machine_cpu_ms(item: RequestCost) -> float:
    return item.lms_cpu_ms + item.support_cpu_ms


def requests_per_second(result: list[RequestCosts]) -> Section:
    rows, failed = [], False
    sqlite = {
        item.path: item
        for costs in result
        if costs.database == "SQLite" and not costs.missing
        for item in costs.rows
    }
    for costs in result:
        fig = f"6 per request, {costs.database}"
        if costs.missing:
            rows.append(row(fig, "every path", f"not measured: {costs.missing}"))
            continue
        reference = costs.rows[0]
        me = next(item for item in costs.rows if item.role == "me")
        streamed = next(item for item in costs.rows if item.role == "streamed")
        endpoint = next((item for item in costs.rows if item.role == "endpoint"), None)
        for item in costs.rows:
            failed = failed or item.errors > 0
            target = PLAIN_TARGETS.get(item.role)
            if item is reference:
                shown = REFERENCE
            else:
                shown = _versus(item, reference, "plain")
                if item.role in ("streamed", "offloaded"):
                    shown += f", {item.per_second / me.per_second:.2f}x /me"
                if costs.database != "SQLite" and target is not None and item.path in sqlite:
                    extra = _machine_cpu_ms(item) - _machine_cpu_ms(sqlite[item.path])
                    shown += f", {extra:+.2f} ms vs SQLite"
                if item.role in ("endpoint", "presigned"):
                    shown += f", {_share(item.per_second, streamed.per_second)} from direct"
                if item.role == "presigned" and endpoint is not None:
                    shown += f", {_share(item.per_second, endpoint.per_second)} DCS endpoint"
            met = None
            if target is not None:
                met = item.per_second / reference.per_second >= target and item.errors == 0
            rows.append(
                row(
                    fig if item is reference else "",
                    item.path,
                    _cost_value(item),
                    shown,
                    f">= {target:.2f}x plain" if target is not None else "",
                    met,
                )
            )
    return Section(rows, [FIGURE_NOTES["6"], FIGURE_NOTES["6 upstreams"]], failed=failed)


def defaults(result: Defaults) -> Section:
    fig, rows = "7 defaults", []
    shipped = None
    for worker_class, item in result.serving_models:
        if worker_class == "gevent":  # each mode's first row: the reference
            shipped = item
            rows.append(row(fig if not rows else "", item.path, _cost_value(item), REFERENCE))
        else:
            rows.append(row("", item.path, _cost_value(item), _versus(item, shipped, "gevent")))
    for off, on in result.access_log:
        rows.append(row("", off.path, _cost_value(off), REFERENCE))
        rows.append(row("", on.path, _cost_value(on), _versus(on, off, "off")))
    for database, fresh, kept in result.conn_max_age:
        rows.append(row("", fresh.path, _cost_value(fresh), REFERENCE))
        pooled = database == "PostgreSQL" and WORKER_CLASS == "gevent"
        shipped = "a pool of 20 per process" if pooled else "CONN_MAX_AGE="
        label = kept.path.replace(
            "default", shipped if pooled else f"{shipped}{result.conn_max_age_default}"
        )
        rows.append(row("", label, _cost_value(kept), _versus(kept, fresh, "CONN_MAX_AGE=0")))
    errors = [item for _, item in result.serving_models] + [
        item for pair in result.access_log for item in pair
    ]
    errors += [item for _, a, b in result.conn_max_age for item in (a, b)]
    return Section(rows, [FIGURE_NOTES["7"]], failed=any(item.errors for item in errors))


def general_notes(cache: str, redis_version: str, inherited: dict[str, str]) -> list[str]:
    """How the whole run was set up: the first notes under the table."""
    cache_note = (
        f" cache redis {redis_version} (one redis-server, a database per LMS server)"
        if cache == "redis"
        else " cache: per-process locmem (or CACHE_URL from the environment)"
    )
    return [
        "MB = 10^6 bytes. Every ratio is to a reference measured in this same run.",
        "direct = nginx serving the object store under DCS's URL layout (sendfile; it checks"
        " no token: a stand-in for DCS, not DCS). django, offload and the chunk sweep read"
        " from it; django->emulator reads from the DCS emulator (Python, 32 KiB chunks).",
        f"LMS: gunicorn {WORKERS} {WORKER_CLASS} workers"
        + (f" x {THREADS} threads" if WORKER_CLASS == "gthread" else " (2,000 connections each)")
        + " (deploy/gunicorn.conf.py, access log off), DEBUG off, LOG_LEVEL=WARNING, SQLite,"
        " and PostgreSQL for figure 6's"
        " second half (a throwaway local cluster, fsync off; CONN_MAX_AGE and"
        " CONN_HEALTH_CHECKS as shipped unless inherited),"
        + cache_note
        + "; offload = the shipped deploy/nginx/lms.conf.template (nginx: 2 workers,"
        " access log off).",
        f"{USERS} readers, each with a DRF token, a session and a signed link, and the book"
        " assigned; load clients each use their own. MEDIA_THROTTLE_RATE=1000000/min and"
        " MEDIA_MAX_STREAMS_PER_USER=1000 (nginx's too) and MEDIA_MAX_CONCURRENT=128 (the bulkhead;"
        " figure 8 keeps the shipped one):"
        " the limits are evaluated on every request but"
        " never refuse (the load is far above one real player).",
        "presigned: moto's S3 server (the S3 stand-in) holds the 256 MiB, 16 MiB and 300 KiB"
        " files, uploaded at start by a second DCS emulator (8 MiB parts); its presigned URLs"
        " point at that emulator's store gateway (Python: checks the SigV4 signature, forwards"
        " to moto). 'store (presigned, direct)' GETs one such URL per file, fetched at start"
        " (the presigned path's floor); 'django->store (presigned)' is a gunicorn with"
        " DCS_PRESIGNED=true reading through them (URLs cached). moto reads the whole object"
        " for every GET, ranges included: its ranged reads cost in proportion to the object,"
        " unlike S3's. Compare each LMS path with its own upstream read directly.",
        "Clients, servers and upstreams all share this machine's cores and loopback.",
        "LMS settings inherited from the environment: "
        + (", ".join(f"{k}={v}" for k, v in sorted(inherited.items())) or "none"),
    ]
