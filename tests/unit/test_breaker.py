"""The circuit breaker on DCS: a table of what DCS did and what the next request meets."""

from __future__ import annotations

import logging
import uuid

import pytest
import requests
from django.core.cache.backends.locmem import LocMemCache

from media_proxy.dcs.breaker import CircuitBreaker, guarded
from media_proxy.dcs.errors import CircuitOpen

FAILURES, RESET = 3, 10.0


class Clock:
    def __init__(self, monkeypatch) -> None:
        self.now = 1_000_000.0
        monkeypatch.setattr("media_proxy.dcs.breaker.time.time", lambda: self.now)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


@pytest.fixture
def breaker():
    # LocMemCache instances of one name share their data: a name per test.
    cache = LocMemCache(f"breaker-{uuid.uuid4()}", {})
    return CircuitBreaker(cache, "dcs", failures=FAILURES, reset=RESET)


def answer(status: int):
    def send() -> requests.Response:
        response = requests.Response()
        response.status_code = status
        return response

    return send


def refused() -> requests.Response:
    raise requests.ConnectionError("refused")


def timed_out() -> requests.Response:
    raise requests.ReadTimeout("no head")


def sent(breaker, send) -> bool:
    """Whether the request reached DCS (False: refused by the open breaker)."""
    calls = []

    def counting() -> requests.Response:
        calls.append(1)
        return send()

    try:
        guarded(breaker, counting)
    except CircuitOpen:
        return False
    except requests.RequestException:
        pass
    return bool(calls)


@pytest.mark.parametrize(
    "failure", [refused, timed_out, answer(500), answer(502), answer(503)], ids=str
)
def test_opens_after_consecutive_failures(breaker, clock, failure):
    for _ in range(FAILURES):
        assert sent(breaker, failure)
    assert breaker.state() == "open"
    assert not sent(breaker, answer(200))


@pytest.mark.parametrize("status", [200, 206, 401, 403, 404, 416])
def test_answers_are_not_failures(breaker, clock, status):
    for _ in range(FAILURES * 3):
        assert sent(breaker, answer(status))
    assert breaker.state() == "closed"


def test_a_success_resets_the_count(breaker, clock):
    for _ in range(5):
        for _ in range(FAILURES - 1):
            sent(breaker, refused)
        sent(breaker, answer(200))
    assert breaker.state() == "closed"


def test_open_refuses_with_the_time_left(breaker, clock):
    for _ in range(FAILURES):
        sent(breaker, refused)
    clock.now += 4
    with pytest.raises(CircuitOpen) as error:
        guarded(breaker, answer(200))
    assert error.value.retry_after == pytest.approx(RESET - 4)


def test_half_open_lets_one_probe_through_and_its_success_closes(breaker, clock, caplog):
    for _ in range(FAILURES):
        sent(breaker, refused)
    clock.now += RESET + 0.1
    assert breaker.state() == "half-open"
    probe = breaker.before_request()
    assert probe.probe
    assert not sent(breaker, answer(200))  # one probe at a time
    with caplog.at_level(logging.WARNING):
        breaker.record(probe, ok=True)
    assert breaker.state() == "closed"
    assert sent(breaker, answer(200))
    assert [r.getMessage() for r in caplog.records if "closed" in r.getMessage()]


def test_a_failed_probe_opens_it_again(breaker, clock):
    for _ in range(FAILURES):
        sent(breaker, refused)
    clock.now += RESET + 0.1
    assert sent(breaker, refused)  # the probe
    assert breaker.state() == "open"
    clock.now += RESET - 1
    assert not sent(breaker, answer(200))


def test_each_transition_is_one_warning(breaker, clock, caplog):
    with caplog.at_level(logging.WARNING, logger="media_proxy.dcs.breaker"):
        for _ in range(FAILURES + 5):
            sent(breaker, refused)
        clock.now += RESET + 0.1
        sent(breaker, answer(200))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "open" in lines[0]
    assert "closed" in lines[1]


def test_a_broken_cache_counts_as_closed(clock):
    class Broken(LocMemCache):
        def get_many(self, *args, **kwargs):
            raise ConnectionError("redis down")

    breaker = CircuitBreaker(Broken("x", {}), "dcs", failures=FAILURES, reset=RESET)
    assert sent(breaker, answer(200))


class CountedBreaker:
    """A breaker over a cache holding one object's info, and the cache calls it makes."""

    def __init__(self, failures: int) -> None:
        cache = LocMemCache(f"breaker-{uuid.uuid4()}", {})
        cache.set("media:info", "size and etag")
        self.breaker = CircuitBreaker(cache, "dcs", failures=failures, reset=RESET)
        self.calls: list[str] = []
        call = self.breaker._call
        self.breaker._call = lambda method, *args: self.calls.append(method) or call(method, *args)


FOUND = {"media:info": "size and etag"}


@pytest.fixture(params=[FAILURES, 0], ids=["on", "off"])  # 0: the breaker is turned off
def counted(request):
    return CountedBreaker(request.param)


def test_state_and_other_entries_come_in_one_cache_round_trip(clock, counted):
    breaker = counted.breaker
    assert breaker.state_and(["media:info", "absent"]) == ("closed", FOUND)
    assert counted.calls == ["get_many"]
    for _ in range(FAILURES):
        sent(breaker, refused)
    assert breaker.state_and(["media:info"]) == ("open" if breaker._threshold else "closed", FOUND)


def test_admit_and_other_entries_come_in_one_cache_round_trip(clock, counted):
    breaker = counted.breaker
    ticket, found = breaker.admit(["media:info", "absent"])
    assert (ticket.probe, found, counted.calls) == (False, FOUND, ["get_many"])
    counted.calls.clear()
    assert guarded(breaker, answer(200), ticket).status_code == 200
    assert counted.calls == []  # the admitted request asks the cache nothing more
    for _ in range(FAILURES):
        sent(breaker, refused)
    if not breaker._threshold:
        assert breaker.admit(["media:info"])[0].probe is False
        return
    with pytest.raises(CircuitOpen):
        breaker.admit(["media:info"])
    clock.now += RESET + 0.1
    # Half-open: no ticket; the request asks for the probe where it reaches DCS, so a
    # DCS login it needs first can be that probe.
    assert breaker.admit(["media:info"]) == (None, FOUND)
    probe = breaker.before_request()
    assert probe.probe
    assert breaker.admit(["media:info"]) == (None, FOUND)
    assert not sent(breaker, answer(200))  # one probe at a time
    guarded(breaker, answer(200), probe)
    assert breaker.state() == "closed"
