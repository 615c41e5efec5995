"""Signed links with a chosen lifetime (the admin's "Copy link"): never longer than
MEDIA_LINK_MAX_AGE, expiring on their own clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
from django.core import signing
from django.test import override_settings

from media_proxy.signing import SALT, InvalidLink, LinkClaims, read_link, sign_link

MAX_AGE = 4 * 3600
NOW = 1_750_000_000


def clock(seconds: float):
    return mock.patch.object(signing, "time", SimpleNamespace(time=lambda: seconds))


def signed_at(seconds: float, lifetime: int | None) -> str:
    with clock(seconds):
        token, _ = sign_link(7, "b-1", "a.mp3", lifetime)
    return token


@pytest.mark.parametrize(
    ("lifetime", "age", "valid"),
    [
        (900, 0, True),
        (900, 900, True),
        (900, 901, False),
        (3600, 3599, True),
        (3600, 3601, False),
        (None, MAX_AGE, True),  # no lifetime: MEDIA_LINK_MAX_AGE
        (None, MAX_AGE + 1, False),
        (10 * MAX_AGE, MAX_AGE + 1, False),  # never longer than MEDIA_LINK_MAX_AGE
        (0, MAX_AGE, True),  # not a lifetime: the default
        (-5, MAX_AGE, True),
    ],
)
@override_settings(MEDIA_LINK_MAX_AGE=MAX_AGE)
def test_lifetime(lifetime, age, valid):
    token = signed_at(NOW, lifetime)
    with clock(NOW + age):
        if valid:
            assert read_link(token) == LinkClaims(7, "b-1", "a.mp3")
        else:
            with pytest.raises(InvalidLink, match="has expired"):
                read_link(token)


@override_settings(MEDIA_LINK_MAX_AGE=MAX_AGE)
def test_expires_at_follows_the_lifetime():
    now = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
    with mock.patch("django.utils.timezone.now", return_value=now):
        assert sign_link(7, "b", "a.mp3", 900)[1] == now + timedelta(seconds=900)
        assert sign_link(7, "b", "a.mp3", 10 * MAX_AGE)[1] == now + timedelta(seconds=MAX_AGE)


@pytest.mark.parametrize("bad", ["900", 0, -1, 1.5, None, [900]])
@override_settings(MEDIA_LINK_MAX_AGE=MAX_AGE)
def test_a_signed_but_malformed_lifetime_is_refused(bad):
    token = signing.dumps({"u": 7, "b": "b", "p": "a.mp3", "t": bad}, salt=SALT, compress=True)
    with pytest.raises(InvalidLink, match="not valid"):
        read_link(token)
