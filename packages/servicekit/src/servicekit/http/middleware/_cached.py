"""Public responses served from the cache before routing: a hit never reaches FastAPI."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Final

from starlette.types import Send

from servicekit.cache import CachedResponse
from servicekit.db import Reader
from servicekit.http._conditional import if_none_match_matches

__all__ = ["CachedRoute"]

_JSON: Final = (b"content-type", b"application/json")


class CachedRoute:
    """A public ``GET`` route of one path parameter whose responses the cache holds.

    ``path`` is its template (``/items/{item_id}``), ``kind`` the cache's kind the
    endpoint fills (`servicekit.cache.ResponseCache.get`), and ``key`` the pattern of
    the path parameter in the form the endpoint caches it under (``[1-9][0-9]{0,18}``
    for an integer id): any other form (``/items/01``, ``/items/x``) goes to the
    endpoint, which validates it, and never names a Redis key. For a request to it,
    `ServiceMiddleware` asks the cache first: a hit is sent from there, after the
    rate limit and with every header a service response has, and FastAPI never sees
    the request. With ``load`` (what the endpoint loads a miss with, given the reader
    and the key), a miss is loaded and filled there too, and only an absence (404) or
    a failure goes on to the endpoint, which answers it; without, every miss goes on
    to the endpoint, which loads, fills and answers (without asking Redis a second
    time). Only for routes whose answer is the same for every caller: no
    authentication, no per-caller view.
    """

    def __init__(
        self,
        path: str,
        *,
        kind: str,
        key: str = r"[^/]{1,128}",
        load: Callable[[Reader, str], Awaitable[CachedResponse | None]] | None = None,
    ) -> None:
        prefix, brace, rest = path.partition("{")
        if not brace or not rest.endswith("}") or "/" in rest or not prefix.endswith("/"):
            raise ValueError(f"{path!r} is not a template like /items/{{item_id}}")
        self.path = path
        self.kind = kind
        self.prefix = prefix
        self._key = re.compile(key)
        self.load = load

    def key_of(self, path: str) -> str | None:
        """The path parameter of ``path`` if ``path`` is this route's, in its cached form."""
        if not path.startswith(self.prefix):
            return None
        key = path[len(self.prefix) :]
        return key if self._key.fullmatch(key) else None

    @staticmethod
    async def send(cached: CachedResponse, send: Send, if_none_match: bytes | None) -> None:
        """Answer with ``cached``: a 304 if ``If-None-Match`` names its ``ETag``, else a 200."""
        etag = (b"etag", cached.etag)
        if if_none_match is not None and if_none_match_matches(
            if_none_match.decode("latin-1"), cached.etag.decode("latin-1")
        ):
            await send({"type": "http.response.start", "status": 304, "headers": [etag]})
            await send({"type": "http.response.body", "body": b""})
            return
        length = (b"content-length", str(len(cached.body)).encode())
        await send({"type": "http.response.start", "status": 200, "headers": [_JSON, length, etag]})
        await send({"type": "http.response.body", "body": cached.body})
