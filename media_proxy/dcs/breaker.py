"""A circuit breaker on DCS, shared by every worker process through the cache.

After `failures` consecutive DCS failures (a connect error, a timeout before
the response head, a 5xx) it opens for `reset` seconds: requests fail at once
with `CircuitOpen`, without touching DCS. Then one request at a time may
probe DCS (half-open); its success closes the breaker, its failure opens it
again. A 401, 404 or 416 is an answer, not a failure. Each transition is one
WARNING line.

State: `…:failures` (a counter), `…:open-until` (a wall-clock time) and
`…:probe` (held by the one probing request). A request costs one cache round
trip while the breaker is closed and healthy, shared with the caller's
own cache reads (`admit`, `state_and`), or none when the caller read the
breaker's `keys` along with its own (their `found`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
from django.core.cache.backends.base import BaseCache

from media_proxy import metrics
from media_proxy.dcs.errors import CircuitOpen

logger = logging.getLogger(__name__)

STATES = ("closed", "open", "half-open")


@dataclass(frozen=True)
class Ticket:
    probe: bool  # this request is the one half-open probe
    failures: bool  # failures were counted before it: a success resets them


class CircuitBreaker:
    def __init__(self, cache: BaseCache, name: str, *, failures: int, reset: float) -> None:
        self._cache = cache
        self._threshold = failures
        self._reset = reset
        self._failures_key = f"breaker:{name}:failures"
        self._open_key = f"breaker:{name}:open-until"
        self._probe_key = f"breaker:{name}:probe"
        self._name = name

    def state(self) -> str:
        return self.state_and([])[0]

    @property
    def keys(self) -> list[str]:
        """The cache entries the state is read from, for a caller to read with its own."""
        return [self._open_key, self._failures_key] if self._threshold > 0 else []

    def state_and(self, keys: list[str], found: dict | None = None) -> tuple[str, dict]:
        """The state, and the cache entries `keys` a caller needs with it: one round trip,
        none when the caller `found` them and the breaker's `keys` already."""
        if self._threshold <= 0:  # turned off
            return "closed", self._get_many(keys) if found is None else found
        open_until, _, found = self._read(keys, found)
        if open_until is None:
            return "closed", found
        return ("open" if open_until > time.time() else "half-open"), found

    def before_request(self) -> Ticket:
        """Raise CircuitOpen, or let the request go (one cache round trip; the probe's
        claim is a second while half-open)."""
        ticket, _ = self.admit([])
        if ticket is not None:
            return ticket
        if not self._call("add", self._probe_key, 1, max(int(self._reset), 1)):
            raise CircuitOpen(1.0)  # another request is probing DCS
        return Ticket(probe=True, failures=True)

    def admit(self, keys: list[str], found: dict | None = None) -> tuple[Ticket | None, dict]:
        """`before_request` while closed, with the cache entries `keys` its caller needs:
        one round trip, none when the caller `found` them and the breaker's `keys`
        already. Raises CircuitOpen while open. Half-open gives no ticket: the request
        asks for the probe when it reaches DCS (`guarded`), where a login it needs
        first can be the probe."""
        if self._threshold <= 0:
            return Ticket(probe=False, failures=False), (
                self._get_many(keys) if found is None else found
            )
        open_until, failures, found = self._read(keys, found)
        if open_until is None:
            return Ticket(probe=False, failures=bool(failures)), found
        if (wait := open_until - time.time()) > 0:
            raise CircuitOpen(wait)
        return None, found

    def record(self, ticket: Ticket, ok: bool) -> None:
        """What DCS did with the request `ticket` let through."""
        if self._threshold <= 0:
            return
        if ok:
            if ticket.probe:
                self._call("delete_many", [self._open_key, self._probe_key, self._failures_key])
                logger.warning("DCS circuit breaker %s: closed (DCS answered again)", self._name)
                metrics.breaker_transitions.labels("closed").inc()
            elif ticket.failures:
                self._call("delete", self._failures_key)
            return
        if ticket.probe:
            self._open("the half-open probe failed")
            self._call("delete", self._probe_key)
        elif self._increment() == self._threshold:
            self._open(f"{self._threshold} consecutive failures")

    def record_failure(self) -> None:
        """A DCS failure seen outside `guarded` (nginx's own read, offload mode)."""
        metrics.dcs_failures.inc()
        self.record(Ticket(probe=False, failures=True), ok=False)

    def _open(self, why: str) -> None:
        self._call("set", self._open_key, time.time() + self._reset, None)
        self._call("set", self._failures_key, 0, None)
        logger.warning("DCS circuit breaker %s: open for %s s (%s)", self._name, self._reset, why)
        metrics.breaker_transitions.labels("open").inc()

    def _increment(self) -> int:
        try:
            return self._cache.incr(self._failures_key)
        except ValueError:
            self._call("add", self._failures_key, 0, None)
            return self._call("incr", self._failures_key) or 1

    def _read(
        self, keys: list[str], found: dict | None = None
    ) -> tuple[float | None, int | None, dict]:
        """open-until, the failure count, and the caller's entries `keys` (read now unless
        `found`)."""
        found = dict(found) if found is not None else self._get_many([*self.keys, *keys])
        return found.pop(self._open_key, None), found.pop(self._failures_key, None), found

    def _get_many(self, keys: list[str]) -> dict:
        return (self._call("get_many", keys) or {}) if keys else {}

    def _call(self, method: str, *args: object) -> object:
        """The cache down must not take media down: it then counts as closed."""
        try:
            return getattr(self._cache, method)(*args)
        except Exception as exc:
            logger.warning("Cache %s for the DCS breaker failed: %s", method, type(exc).__name__)
            return None


def guarded(
    breaker: CircuitBreaker | None,
    send: Callable[[], requests.Response],
    ticket: Ticket | None = None,
) -> requests.Response:
    """`send()` through the breaker: refused while it is open, its outcome recorded.
    `ticket`: the breaker already admitted this request (`admit`)."""
    if breaker is None:
        return send()
    if ticket is None:
        ticket = breaker.before_request()
    started = time.monotonic()
    try:
        response = send()
    except requests.RequestException:  # connect error, timeout before the head
        metrics.dcs_latency.observe(time.monotonic() - started)
        metrics.dcs_failures.inc()
        breaker.record(ticket, ok=False)
        raise
    metrics.dcs_latency.observe(time.monotonic() - started)
    ok = response.status_code < 500
    if not ok:
        metrics.dcs_failures.inc()
    breaker.record(ticket, ok=ok)
    return response
