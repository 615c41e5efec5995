"""Figure 8 (issue 10): does media stay in its lane? Per mode (streaming: gunicorn alone;
offload: the shipped nginx template in front of gunicorn with MEDIA_NGINX_OFFLOAD=true):

1. 2,000 paused players (each reads its status line, then nothing) and 200 slow players
   (32 KiB/s each) held while the login page and a fresh seek are probed;
2. DCS hung (the emulator's `hang_all`): media requests at a steady rate and login
   probes, until the breaker answers; then the hang is cleared, until media works again.

Each mode has its own servers, started here with the shipped bulkhead and breaker: for
1 the LMS reads an nginx standing in for DCS (the emulator md5s a file on its first
request and runs a thread per connection); for 2 it reads the emulator, whose switch
hangs DCS.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from urllib.parse import quote

from bench.config import (
    BREAKER_RESET,
    ISOLATION_BATCH,
    ISOLATION_BATCH_PAUSE,
    ISOLATION_DCS_SEND_BUFFER,
    ISOLATION_HUNG_RANGE,
    ISOLATION_HUNG_RATE,
    ISOLATION_MSS,
    ISOLATION_OPEN_SECONDS,
    ISOLATION_PAUSED,
    ISOLATION_PROBE_RATE,
    ISOLATION_PROBE_SECONDS,
    ISOLATION_PROBE_TIMEOUT,
    ISOLATION_RCVBUF,
    ISOLATION_SEEK,
    ISOLATION_SEND_TIMEOUT,
    ISOLATION_SETTLE_CAP,
    ISOLATION_SETTLED_CPU,
    ISOLATION_SLOW,
    ISOLATION_SLOW_RATE,
    READ_TIMEOUT,
)
from bench.data import BIG, SIZES, SMALL
from bench.isolation_clients import (
    ClientProcess,
    HungSpec,
    PlayersSpec,
    request_bytes,
    start_hung,
    start_players,
)
from bench.results import HungDcs, Isolation, PausedPlayers
from bench.servers import emulator_call, start_offload_nginx, start_reference_nginx
from bench.stack import Stack
from bench.watch import Probe, held_cost, probe_once, run_probes, settle
from local_servers import wait_for_port

logger = logging.getLogger(__name__)

MODES = ("streaming", "offload")
LMS_PROCESSES = ("gunicorn", "nginx")  # a Front's processes, in order


@dataclass
class Front:
    """Where the clients of one LMS go (gunicorn, or the nginx in front of it), and the
    processes that are that LMS (gunicorn first)."""

    port: int
    processes: list = field(default_factory=list)  # subprocess.Popen

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]


def isolation(stack: Stack) -> Isolation:
    result = Isolation([], [])
    dcs, dcs_port = start_reference_nginx(
        stack.procs,
        stack.data.storage_root,
        stack.emulator_port,
        name="nginx-reference-isolation",
        send_buffer=ISOLATION_DCS_SEND_BUFFER,
    )
    try:
        wait_for_port(dcs_port, dcs)
        for mode in MODES:
            _measure_mode(stack, mode, Front(dcs_port, [dcs]), result)
    finally:
        stack.procs.stop(dcs)
    return result


def _measure_mode(stack: Stack, mode: str, dcs: Front, result: Isolation) -> None:
    """`dcs`: the nginx standing in for DCS while players pause."""
    players, hung = _start_fronts(stack, mode, dcs.port)
    try:
        result.paused.append(_paused_phase(stack, mode, players, dcs))
        _stop(stack, players)
        result.hung.append(_hung_phase(stack, mode, hung))
    finally:
        _stop(stack, players)
        _stop(stack, hung)


# --- the servers of one mode ---------------------------------------------------------------


def _start_fronts(stack: Stack, mode: str, dcs_port: int) -> tuple[Front, Front]:
    """The LMS the players use (its DCS: the nginx at `dcs_port`) and the one whose DCS
    hangs (the emulator), started together; in offload mode each behind its own nginx."""
    logger.info("figure 8, %s mode: starting its two LMS servers", mode)
    settings = {
        "MEDIA_SEND_TIMEOUT": str(ISOLATION_SEND_TIMEOUT),  # no cut during a run
        "MEDIA_MAX_CONCURRENT": None,  # the shipped bulkhead (3/4 of worker_connections)
    }
    if mode == "offload":
        settings["MEDIA_NGINX_OFFLOAD"] = "true"
    dcs = {"players": f"127.0.0.1:{dcs_port}", "hung": f"127.0.0.1:{stack.emulator_port}"}
    servers = {
        name: stack.lms_server(f"gunicorn-isolation-{mode}-{name}", f"http://{address}", **settings)
        for name, address in dcs.items()
    }
    fronts = {}
    for name, server in servers.items():
        wait_for_port(server.port, server.process, timeout=90)
        fronts[name] = Front(server.port, [server.process])
        if mode == "offload":
            directory = f"nginx-isolation-{mode}-{name}"
            nginx, port = start_offload_nginx(stack.procs, server.address, dcs[name], directory)
            wait_for_port(port, nginx)
            fronts[name] = Front(port, [server.process, nginx])
    return fronts["players"], fronts["hung"]


def _stop(stack: Stack, front: Front) -> None:
    for process in front.processes:
        stack.procs.stop(process)
    front.processes = []


def _media_path(stack: Stack, name: str) -> str:
    return f"/api/v1/books/{stack.data.book_id}/media/{quote(name, safe='')}"


def _bearers(stack: Stack) -> list[str]:
    return [f"Bearer {token}" for token in stack.data.sqlite.tokens]


def _login_probe(port: int) -> Probe:
    return Probe("login", port, "/accounts/login/", {}, 200)


def _warm(probes: list[Probe]) -> None:
    """Logs the LMS in to DCS, caches the files' sizes; fails loudly on a wrong answer."""
    for _ in range(4):
        for probe in probes:
            _, failure = probe_once(probe, 30.0)
            if failure:
                raise RuntimeError(f"figure 8 warm-up: {probe.name} {probe.path}: {failure}")


# --- 1: paused and slow players ---------------------------------------------------------


def _players_spec(stack: Stack, port: int) -> PlayersSpec:
    path = _media_path(stack, BIG)
    requests = [
        request_bytes(port, path, {"Authorization": bearer, "Range": "bytes=0-"})
        for bearer in _bearers(stack)
    ]
    return PlayersSpec(
        port=port,
        requests=requests,
        paused=ISOLATION_PAUSED,
        slow=ISOLATION_SLOW,
        batch=ISOLATION_BATCH,
        batch_pause=ISOLATION_BATCH_PAUSE,
        rcvbuf=ISOLATION_RCVBUF,
        mss=ISOLATION_MSS,
        slow_rate=ISOLATION_SLOW_RATE,
        head_timeout=30.0,
    )


def _seek_probe(stack: Stack, port: int) -> Probe:
    first, last = ISOLATION_SEEK
    headers = {"Authorization": _bearers(stack)[0], "Range": f"bytes={first}-{last}"}
    return Probe("seek", port, _media_path(stack, BIG), headers, 206, last - first + 1)


def _paused_phase(stack: Stack, mode: str, front: Front, dcs: Front) -> PausedPlayers:
    probes = [_login_probe(front.port), _seek_probe(stack, front.port)]
    _warm(probes)
    spec = _players_spec(stack, front.port)
    logger.info("figure 8, %s mode: opening %d paused players", mode, spec.paused)
    began = time.monotonic()
    players = start_players(spec)
    try:
        measured = _hold_and_probe(players, mode, front, dcs, probes)
        held_seconds = time.monotonic() - began
        players.pipe.send("close")
    finally:
        players.stop()
    return PausedPlayers(
        mode=mode, paused=spec.paused, slow=spec.slow, held_seconds=held_seconds, **measured
    )


def _hold_and_probe(
    players: ClientProcess, mode: str, front: Front, dcs: Front, probes: list[Probe]
) -> dict:
    """Once the players are in and the servers settled, probe; the slow players' rates
    over the probes' window, and what holding them all costs at its end."""
    _, paused, opened_seconds = players.receive(timeout=120)
    logger.info("figure 8, %s mode: paused %s in %.1f s", mode, paused, opened_seconds)
    _, slow = players.receive(timeout=60)
    settled = settle(front.pids() + dcs.pids(), ISOLATION_SETTLED_CPU, ISOLATION_SETTLE_CAP)
    logger.info("figure 8, %s mode: the servers settled in %.1f s", mode, settled)
    start = time.monotonic() + 0.5
    end = start + ISOLATION_PROBE_SECONDS
    players.pipe.send((start, end))
    time.sleep(0.5)
    login, seek = run_probes(probes, ISOLATION_PROBE_RATE, ISOLATION_PROBE_TIMEOUT, end)
    _, rates = players.receive(timeout=30)
    return {
        "paused_statuses": paused,
        "opened_seconds": opened_seconds,
        "settle_seconds": settled,
        "slow_statuses": slow,
        "slow_kib_s": rates,
        "login": login,
        "seek": seek,
        "cost": held_cost(front.port, dict(zip(LMS_PROCESSES, front.pids(), strict=False))),
    }


# --- 2: DCS hung ------------------------------------------------------------------------


def _hung_spec(stack: Stack, port: int) -> HungSpec:
    path, (first, last) = _media_path(stack, SMALL), ISOLATION_HUNG_RANGE
    requests = [
        request_bytes(port, path, {"Authorization": bearer, "Range": f"bytes={first}-{last}"})
        for bearer in _bearers(stack)
    ]
    return HungSpec(
        port=port,
        requests=requests,
        rate=ISOLATION_HUNG_RATE,
        emulator_port=stack.emulator_port,
        open_seconds=ISOLATION_OPEN_SECONDS,
        max_hung=3 * READ_TIMEOUT + 10,
        max_recovery=BREAKER_RESET + 10,
        answer_timeout=3 * READ_TIMEOUT + 5,
    )


def _hung_phase(stack: Stack, mode: str, front: Front) -> HungDcs:
    login = _login_probe(front.port)
    bearer = {"Authorization": _bearers(stack)[0]}
    _warm([login, Probe("media", front.port, _media_path(stack, SMALL), bearer, 200, SIZES[SMALL])])
    spec = _hung_spec(stack, front.port)
    logger.info("figure 8, %s mode: DCS hung, %.0f media requests/s", mode, spec.rate)
    client = start_hung(spec)
    cap = time.monotonic() + spec.max_hung + spec.max_recovery + spec.answer_timeout + 10
    try:
        (login_series,) = run_probes(
            [login], ISOLATION_PROBE_RATE, ISOLATION_PROBE_TIMEOUT, cap, client.pipe.poll
        )
        _, answers, cleared = client.receive(timeout=5)
    finally:
        client.stop()
        emulator_call(stack.emulator_port, "faults", "POST", {"hang_all": False})
    logger.info("figure 8, %s mode: the hang was cleared at %.1f s", mode, cleared)
    return HungDcs(mode, READ_TIMEOUT, BREAKER_RESET, answers, cleared, login_series)
