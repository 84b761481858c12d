"""Keys from another service's JWKS, cached; a verifier built on them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from servicekit.auth._jwk import public_key_from_jwk
from servicekit.auth._settings import JwksSettings, TokenSettings
from servicekit.auth._verifier import TokenVerifier

__all__ = ["JwksKeySource", "open_jwks_verifier"]

# Requests that queued on the fetch lock behind a fetch this recent use its result.
_JUST_FETCHED: Final = 0.5

_log = structlog.get_logger("servicekit.auth")


class JwksKeySource:
    """Public keys from a JWKS URL, cached in memory.

    - Keys are refetched in the background once older than ``cache_ttl``;
      requests meanwhile use the cached keys. While the issuer is down, that is
      tried again at most once per ``min_refetch_interval``.
    - A ``kid`` not in the cache triggers an immediate refetch (a key rotated
      in), but at most once per ``min_refetch_interval``, so tokens with made-up
      ``kid``s cannot make the verifier hammer the JWKS endpoint. Until a first
      fetch has succeeded (the issuer is still starting), it retries within a
      second instead.
    - When a fetch fails, the cached keys stay in use.
    """

    def __init__(
        self,
        url: str,
        *,
        http: httpx.AsyncClient,
        cache_ttl: float = 300.0,
        min_refetch_interval: float = 10.0,
        first_fetch_retry_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._http = http
        self._cache_ttl = cache_ttl
        self._min_refetch_interval = min_refetch_interval
        self._first_fetch_retry_interval = first_fetch_retry_interval
        self._clock = clock
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None

    async def get_key(self, kid: str) -> Ed25519PublicKey | None:
        """The key named ``kid``, fetching the JWKS if needed and allowed."""
        now = self._clock()
        if kid in self._keys:
            stale = self._fetched_at is not None and now - self._fetched_at > self._cache_ttl
            if stale and self._may_fetch(now):
                self._refresh_in_background()
            return self._keys[kid]
        if self._may_fetch(now):
            await self.refresh()
        return self._keys.get(kid)

    def _may_fetch(self, now: float) -> bool:
        if self._attempted_at is None:
            return True
        if self._fetched_at is None:
            return now - self._attempted_at >= self._first_fetch_retry_interval
        return now - self._attempted_at >= self._min_refetch_interval

    async def refresh(self) -> None:
        """Fetch the JWKS now; on failure keep the cached keys and log why."""
        async with self._lock:
            now = self._clock()
            if self._attempted_at is not None and now - self._attempted_at < _JUST_FETCHED:
                return  # somebody else fetched while we waited for the lock
            self._attempted_at = now
            try:
                response = await self._http.get(self.url, headers={"Accept": "application/json"})
                response.raise_for_status()
                keys = _parse_jwks(response.json())
            except (httpx.HTTPError, ValueError) as exc:
                _log.warning(
                    "jwks_fetch_failed",
                    url=self.url,
                    error=str(exc) or type(exc).__name__,
                    cached_keys=len(self._keys),
                )
                return
            self._keys = keys
            self._fetched_at = now
            _log.info("jwks_fetched", url=self.url, keys=sorted(keys))

    async def aclose(self) -> None:
        """Stop a background refresh, if one is running."""
        if self._background is not None:
            self._background.cancel()
            await asyncio.gather(self._background, return_exceptions=True)

    def _refresh_in_background(self) -> None:
        if self._background is None or self._background.done():
            self._background = asyncio.create_task(self.refresh())


def _parse_jwks(document: Any) -> dict[str, Ed25519PublicKey]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    keys = {}
    for jwk in document["keys"]:
        if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
            key = public_key_from_jwk(jwk)
            if key is not None:
                keys[jwk["kid"]] = key
    return keys


@asynccontextmanager
async def open_jwks_verifier(
    jwks: JwksSettings, *, token: TokenSettings
) -> AsyncIterator[TokenVerifier]:
    """A verifier of ``token``'s rules for tokens signed with the keys at ``jwks.url``.

    The first fetch is tried at once but may fail (the issuer may start later);
    the first token with an unknown ``kid`` then tries again.
    """
    async with httpx.AsyncClient(timeout=jwks.fetch_timeout) as http:
        keys = JwksKeySource(jwks.url, http=http, cache_ttl=jwks.cache_ttl)
        await keys.refresh()
        try:
            yield TokenVerifier.configured(keys, token)
        finally:
            await keys.aclose()
