"""What each figure measures: plain data, no formatting (bench/report.py formats it).

Rates are MB/s (10^6 bytes), times are seconds, memory is MiB. In every list
of paths the first is the reference the others are a ratio to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.load import LoadResult


@dataclass(frozen=True)
class UpstreamPair:
    """The two ways the LMS reads DCS's objects, each beside its upstream read directly.

    Figures 1 and 2 compare them: presigned against DCS's endpoint, both against direct.
    """

    endpoint: str  # the LMS reading DCS's object endpoint ("django->emulator")
    endpoint_floor: str  # that endpoint read directly ("emulator (direct)")
    presigned: str  # the LMS with DCS_PRESIGNED=true ("django->store (presigned)")
    presigned_floor: str  # presigned URLs read directly from the store ("store (...)")


@dataclass
class Throughput:
    """Figure 1: single-stream download rate of the 256 MiB file, per path."""

    paths: list[str]  # direct first
    best: dict[str, float]  # path -> best MB/s (missing: no complete download)
    worst: dict[str, float]
    chunk_paths: dict[str, str]  # MEDIA_CHUNK_SIZE label -> its path
    failures: dict[str, int] = field(default_factory=dict)  # "path: status, size" -> count
    pair: UpstreamPair | None = None


@dataclass
class SeekSeriesResult:
    path: str
    kind: str  # "range" (64 KiB media ranges) or "view" (the minimal authenticated view)
    ttfb: list[float]
    errors: dict[str, int]


@dataclass
class SeekLatency:
    """Figure 2: time to first byte, one keep-alive connection per path."""

    series: list[SeekSeriesResult]  # direct first; the first "view" is the /me reference
    pair: UpstreamPair | None = None

    @property
    def errors(self) -> dict[str, dict[str, int]]:
        return {series.path: series.errors for series in self.series if series.errors}


@dataclass
class UpstreamUse:
    """Figure 3: what one client request costs upstream (the emulator's counters)."""

    path: str
    client_requests: int
    upstream_requests: int
    connections_opened: int
    logins: int
    upstream_ranges: dict[str, int]  # the Range headers DCS saw, digits as N


@dataclass
class RssGrowth:
    """Figure 4, one row: peak RSS growth of a server's workers while streaming 1 GiB."""

    path: str
    growth_mib: float
    mbps: float
    samples: int


@dataclass
class ConcurrentPath:
    """Figure 5, one path under the concurrent load."""

    path: str
    result: LoadResult
    elapsed: float
    upstream_connections: int | None = None  # None for the reference (it is the upstream)
    pool_full_warnings: int = 0


@dataclass
class RequestCost:
    """Figures 6 and 7, one row: requests per second under load, and what each cost in CPU."""

    path: str
    role: str  # "plain" (the reference and its nginx twin), "me", "streamed", "offloaded", ...
    per_second: float
    errors: int
    p99: float
    lms_cpu_ms: float  # per request: the LMS's own processes (gunicorn, + nginx in front)
    support_cpu_ms: float  # per request: redis-server and PostgreSQL
    requests: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    upstream_cpu_ms: float | None = None  # per request: the upstream's processes, when measured


@dataclass
class RequestCosts:
    """Figure 6 on one database: the plain view first (the reference), then the rest."""

    database: str
    rows: list[RequestCost]
    missing: str = ""  # why this database was not measured


@dataclass
class Defaults:
    """Figure 7: the measurements behind the shipped defaults."""

    # (worker class, cost): offloaded decisions, then streamed ranges, each class in turn
    serving_models: list[tuple[str, RequestCost]]
    access_log: list[tuple[RequestCost, RequestCost]]  # (off, on) per path
    conn_max_age: list[tuple[str, RequestCost, RequestCost]]  # (database, 0, the default)
    conn_max_age_default: int = 0


@dataclass
class ProbeSeries:
    """Figure 8: one kind of probe (login page, seek), each on a new connection."""

    name: str
    seconds: list[float]  # each successful probe, from connecting to its last byte
    failures: dict[str, int]  # what went wrong -> count (timeouts, a wrong status or length)

    @property
    def count(self) -> int:
        return len(self.seconds) + sum(self.failures.values())


@dataclass(frozen=True)
class HeldCost:
    """Figure 8: what holding the players cost, at the end of the probes."""

    open_connections: int  # established at the LMS's front port (gunicorn's, or nginx's)
    rss_mib: dict[str, float]  # "gunicorn", "nginx" -> RSS of its process tree
    tcp_mib: float  # the kernel's TCP buffers, the whole machine's (/proc/net/sockstat)
    tcp_pressure_mib: float  # where the kernel starts to squeeze them (tcp_mem) ...
    tcp_limit_mib: float  # ... and its hard limit


@dataclass
class PausedPlayers:
    """Figure 8, one mode: paused and slow players held while login and seek are probed."""

    mode: str  # "streaming" or "offload"
    paused: int  # asked for
    slow: int
    paused_statuses: dict[str, int]  # status line code (or failure) -> count; "206" is held
    opened_seconds: float  # opening them all took
    settle_seconds: float  # then the servers took this long to go (nearly) idle
    held_seconds: float  # the first paused player's age when the probes ended
    slow_statuses: dict[str, int]
    slow_kib_s: list[float]  # each slow player's rate during the probes
    login: ProbeSeries
    seek: ProbeSeries
    cost: HeldCost

    @property
    def held(self) -> int:
        """Paused players that got their 206 and were still connected at the end."""
        still_open = self.cost.open_connections - self.slow_statuses.get("206", 0)
        return min(self.paused_statuses.get("206", 0), still_open)


@dataclass(frozen=True)
class MediaAnswer:
    """Figure 8, DCS hung: one media request, each on a new connection."""

    sent: float  # seconds after DCS was hung
    seconds: float  # until its status line (or the failure)
    status: str  # "200", "503", "504", or "timeout" and other failures


@dataclass
class HungDcs:
    """Figure 8, one mode: media requests and login probes while DCS hangs, then recovers."""

    mode: str
    read_timeout: float  # DCS_READ_TIMEOUT of the LMS measured
    breaker_reset: float  # DCS_BREAKER_RESET
    answers: list[MediaAnswer]
    cleared: float  # seconds after the hang began, when it was cleared
    login: ProbeSeries

    def hung(self) -> list[MediaAnswer]:
        """Answers to the requests sent while DCS hung."""
        return [answer for answer in self.answers if answer.sent < self.cleared]

    @property
    def first_503(self) -> float | None:
        """Seconds from the hang to the first 503 (the breaker open, or the bulkhead)."""
        ends = [a.sent + a.seconds for a in self.answers if a.status == "503"]
        return min(ends) if ends else None

    def while_open(self) -> list[MediaAnswer]:
        """Answers to the requests sent after the first 503 and answered before the clear
        (the emulator answers every waiting request at once when cleared)."""
        opened = self.first_503
        if opened is None:
            return []
        return [a for a in self.hung() if a.sent >= opened and a.sent + a.seconds < self.cleared]

    @property
    def recovery(self) -> float | None:
        """Seconds from the clear to the first success of a request sent after it."""
        ends = [
            a.sent + a.seconds
            for a in self.answers
            if a.sent >= self.cleared and a.status in ("200", "206")
        ]
        return min(ends) - self.cleared if ends else None


@dataclass
class Isolation:
    """Figure 8: per mode, paused and slow players, then a hung DCS."""

    paused: list[PausedPlayers]
    hung: list[HungDcs]
