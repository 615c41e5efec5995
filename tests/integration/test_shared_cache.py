"""Many workers, one cache: with CACHE_URL=redis://, workers share the DCS token and
object metadata, so two worker processes cost DCS one login."""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from tests import media
from tests.conftest import lms_with
from tests.factories import bearer, student_with_book
from tests.wire import fetch_raw, media_path

pytestmark = [pytest.mark.wire, pytest.mark.tools]

SOURCE = media.file_bytes("data/random-1m.bin")


@pytest.fixture(scope="module")
def two_workers(django_db_setup, dcs_server, redis_url, tmp_path_factory):
    yield from lms_with(dcs_server, tmp_path_factory, "redis-lms", workers=2, CACHE_URL=redis_url)


@pytest.mark.django_db(transaction=True)
def test_two_workers_share_one_dcs_login(two_workers, dcs, redis_url):
    redis.Redis.from_url(redis_url).flushdb()
    user, book = student_with_book()
    headers = bearer(user)

    def seek(offset: int):
        return fetch_raw(
            two_workers,
            "GET",
            media_path(book, "data/random-1m.bin"),
            {**headers, "Range": f"bytes={offset}-{offset + 4095}"},
        )

    offsets = list(range(0, 200 * 4096, 4096))
    with ThreadPoolExecutor(max_workers=24) as pool:
        responses = list(pool.map(seek, offsets))

    assert [r.status for r in responses] == [206] * len(offsets)
    assert all(r.body == SOURCE[o : o + 4096] for o, r in zip(offsets, responses, strict=True))
    served_by = {
        match[1]
        for line in two_workers.log_lines()
        if "media_stream" in line and (match := re.search(r"pid=(\d+)", line))
    }
    assert len(served_by) == 2, "both worker processes served requests"
    assert dcs.stats.logins == 1

    keys = [key.decode() for key in redis.Redis.from_url(redis_url).keys("*")]
    assert any("dcs:token:" in key for key in keys)
    assert any("media:info:" in key for key in keys)
