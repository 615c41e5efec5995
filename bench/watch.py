"""What the bench process watches while figure 8's clients (bench/isolation_clients.py)
load the servers: probes (one request each on a new connection, at a steady rate, from
threads), the servers' CPU until they settle, and what holding the players costs."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psutil

from bench.isolation_clients import failure_name
from bench.results import HeldCost, ProbeSeries
from bench.servers import tree_cpu_seconds


@dataclass(frozen=True)
class Probe:
    name: str
    port: int
    path: str
    headers: dict[str, str]
    status: int  # expected
    length: int | None = None  # expected body length, when checked


def probe_once(probe: Probe, timeout: float) -> tuple[float | None, str]:
    """(seconds from connecting to the last byte, "") or (None, what went wrong)."""
    conn = http.client.HTTPConnection("127.0.0.1", probe.port, timeout=timeout)
    started = time.perf_counter()
    try:
        conn.request("GET", probe.path, headers=probe.headers)
        response = conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        if response.status != probe.status:
            return None, f"status {response.status}"
        if probe.length is not None and len(body) != probe.length:
            return None, f"{len(body)} bytes"
        return elapsed, ""
    except (OSError, http.client.HTTPException) as error:
        return None, failure_name(error)
    finally:
        conn.close()


def run_probes(
    probes: list[Probe],
    rate: float,
    timeout: float,
    end: float,
    done: Callable[[], bool] | None = None,
) -> list[ProbeSeries]:
    """Each probe `rate` times a second, staggered, until the monotonic time `end` or
    until `done()`; none waits for another (a thread each, enough for all to time out)."""
    results = [ProbeSeries(probe.name, [], {}) for probe in probes]
    pending = []
    step = 1 / (rate * len(probes))
    with ThreadPoolExecutor(max_workers=int(rate * timeout * len(probes)) + 8) as pool:
        began, tick = time.monotonic(), 0
        while time.monotonic() < end and not (done and done()):
            index = tick % len(probes)
            pending.append((results[index], pool.submit(probe_once, probes[index], timeout)))
            tick += 1
            time.sleep(max(0.0, began + tick * step - time.monotonic()))
        for series, future in pending:
            seconds, failure = future.result()
            if failure:
                series.failures[failure] = series.failures.get(failure, 0) + 1
            else:
                series.seconds.append(seconds)
    return results


# --- the servers' CPU and memory --------------------------------------------------------


def settle(pids: list[int], settled_cpu: float, cap: float) -> float:
    """Wait until the process trees `pids` use under `settled_cpu` CPU seconds a second
    (e.g. offload's nginx filling 2 MiB of buffers per paused player), at most `cap`
    seconds; the seconds waited."""
    began = time.monotonic()
    used = sum(tree_cpu_seconds(pid) for pid in pids)
    while time.monotonic() - began < cap:
        time.sleep(1.0)
        before, used = used, sum(tree_cpu_seconds(pid) for pid in pids)
        if used - before < settled_cpu:
            break
    return time.monotonic() - began


def _tree_rss_mib(pid: int) -> float:
    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20


PAGE = 4096


def _kernel_tcp_mib() -> float:
    """The kernel's TCP buffers in use, the whole machine's (/proc/net/sockstat, pages)."""
    with open("/proc/net/sockstat") as handle:
        for line in handle:
            if line.startswith("TCP:"):
                fields = line.split()
                return int(fields[fields.index("mem") + 1]) * PAGE / 2**20
    return float("nan")


def _tcp_mem_mib() -> tuple[float, float]:
    """tcp_mem's pressure threshold and hard limit (the kernel's own, sized from RAM)."""
    with open("/proc/sys/net/ipv4/tcp_mem") as handle:
        _, pressure, limit = (int(pages) * PAGE / 2**20 for pages in handle.read().split())
    return pressure, limit


def held_cost(port: int, pids: dict[str, int]) -> HeldCost:
    """Connections established at `port`, the RSS of each named process tree, and the
    kernel's TCP memory."""
    connections = psutil.net_connections(kind="tcp")
    open_connections = sum(
        1 for c in connections if c.status == "ESTABLISHED" and c.laddr.port == port
    )
    rss = {name: _tree_rss_mib(pid) for name, pid in pids.items()}
    return HeldCost(open_connections, rss, _kernel_tcp_mib(), *_tcp_mem_mib())
