"""A book's file, and where its bytes come from: DCS's object endpoint or the object store.

With `DCS_PRESIGNED` every read goes to the object store through a presigned
URL that DCS signs (the LMS's DCS account must be a DCS admin). Without it,
DCS's object endpoint serves, and only a file whose name DCS cannot serve
(outside Latin-1) is read through a presigned URL, when the account may ask
for one. Presigned URLs are kept in the shared cache, per object, well
inside their lifetime, and dropped when the store refuses one.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.cache import cache

from media_proxy.cache_keys import cache_key
from media_proxy.dcs import DCSClient, PresignNotAllowed, UnservableName, serves_name
from media_proxy.dcs.breaker import Ticket
from media_proxy.dcs.store import ObjectStoreClient, StoreRefused, raise_for_refusal
from media_proxy.dcs.upstream import UpstreamResponse

logger = logging.getLogger(__name__)

PRESIGN_REFUSED_KEY = "dcs:presign-refused"


@dataclass(frozen=True)
class MediaObject:
    publisher: str
    book_name: str
    path: str

    @functools.cached_property
    def cache_key(self) -> str:
        return cache_key("media:info", self.publisher, self.book_name, self.path)

    @functools.cached_property
    def url_key(self) -> str:
        return cache_key("media:presigned", self.publisher, self.book_name, self.path)


@dataclass(frozen=True)
class StoreTarget:
    """Where nginx fetches a presigned object from: the URL's origin, and path with query."""

    origin: str
    path: str


@dataclass(frozen=True)
class OffloadLookup:
    dcs_healthy: bool  # the breaker on DCS is closed (open or half-open: nginx is not sent)
    info: object | None  # the object's cached size and ETag (responder.ObjectInfo)
    url: str | None  # its cached presigned URL (DCS_PRESIGNED)


class ObjectSource:
    def __init__(
        self,
        dcs: DCSClient,
        store: ObjectStoreClient,
        *,
        presigned: bool,
        url_lifetime: int,
        refused_ttl: int = 600,
    ) -> None:
        self._dcs = dcs
        self._store = store
        self.presigned = presigned
        self._url_lifetime = url_lifetime
        self._refused_ttl = refused_ttl  # seconds before asking again whether we may presign

    def cache_keys(self, obj: MediaObject) -> list[str]:
        """The shared cache entries `admit` and `offload_lookup` decide on, for a caller
        to read with its own in one round trip (their `found`)."""
        breaker = self._dcs.breaker
        keys = [*breaker.keys] if breaker is not None else []
        return [*keys, obj.cache_key, obj.url_key] if self.presigned else [*keys, obj.cache_key]

    def admit(
        self, obj: MediaObject, found: dict | None = None
    ) -> tuple[Ticket | None, object | None]:
        """Before a read: the object's cached size and ETag (responder.ObjectInfo) and,
        when DCS's object endpoint serves it, the breaker's admission for the read, in
        one cache round trip (`CircuitBreaker.admit`: CircuitOpen raised; no ticket
        while half-open), or none when the caller `found` the entries (`cache_keys`)."""
        breaker = self._dcs.breaker
        if self.presigned or breaker is None or not serves_name(obj.path):
            return None, cache.get(obj.cache_key) if found is None else found.get(obj.cache_key)
        ticket, found = breaker.admit([obj.cache_key], found)
        return ticket, found.get(obj.cache_key)

    def open(
        self, obj: MediaObject, range_header: str | None, ticket: Ticket | None = None
    ) -> UpstreamResponse:
        """The object's bytes (`range_header` as DCS reads it): 200/206/416, else raised.
        `ticket`: from `admit`, for this read."""
        if not self.presigned:
            try:
                return self._dcs.get_object(
                    obj.publisher, obj.book_name, obj.path, range_header=range_header, ticket=ticket
                )
            except UnservableName:
                if cache.get(PRESIGN_REFUSED_KEY):
                    raise
        try:
            url = self._url(obj)
        except PresignNotAllowed:
            if self.presigned:
                raise  # DCS_PRESIGNED with an account that may not: a 502, logged as an error
            cache.set(PRESIGN_REFUSED_KEY, True, self._refused_ttl)
            return self.open(obj, range_header)  # raises UnservableName again
        try:
            return self._store.get(url, range_header)  # type: ignore[return-value]
        except StoreRefused:
            cache.delete(obj.url_key)
        try:
            return self._store.get(self._url(obj), range_header)  # type: ignore[return-value]
        except StoreRefused as error:
            cache.delete(obj.url_key)
            raise_for_refusal(error)
            raise

    def store_target(self, obj: MediaObject, cached_url: str | None = None) -> StoreTarget | None:
        """For offload: where nginx reads this object in the store, or None (DCS serves it)."""
        if not self.presigned and (serves_name(obj.path) or cache.get(PRESIGN_REFUSED_KEY)):
            return None
        url = urlsplit(cached_url or self._url(obj))
        return StoreTarget(f"{url.scheme}://{url.netloc}", f"{url.path}?{url.query}")

    def offload_lookup(self, obj: MediaObject, found: dict | None = None) -> OffloadLookup:
        """What deciding an offload needs from the shared cache, in one round trip, or
        none when the caller `found` it (`cache_keys`)."""
        keys = [obj.cache_key, obj.url_key] if self.presigned else [obj.cache_key]
        breaker = self._dcs.breaker
        if breaker is not None:
            state, found = breaker.state_and(keys, found)
        else:
            state, found = "closed", cache.get_many(keys) if found is None else found
        return OffloadLookup(state == "closed", found.get(obj.cache_key), found.get(obj.url_key))

    def authorization(self) -> str:
        """The DCS `Authorization` value nginx sends when it reads from DCS (offload)."""
        return self._dcs.authorization()

    def _url(self, obj: MediaObject) -> str:
        url = cache.get(obj.url_key)
        if url is None:
            url = self._dcs.presigned_url(
                obj.publisher, obj.book_name, obj.path, self._url_lifetime
            )
            # Kept for half its life: a URL taken from the cache has time to serve a stream.
            cache.set(obj.url_key, url, self._url_lifetime // 2)
        return url
