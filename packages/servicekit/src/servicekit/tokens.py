"""Access-token verification, exactly as the contract's "Access tokens" section says.

A token is accepted only if all of these hold:

- it is a JWS in compact form whose header has ``alg`` in the accepted set
  (``EdDSA``; never ``none`` in any spelling, never ``HS*``), ``typ`` of
  ``at+jwt`` (RFC 9068), a ``kid`` that names a key the `KeySource` knows, and
  no ``crit`` extension (PyJWT refuses those as malformed); ``jku``, ``x5u`` and
  ``jwk`` headers are ignored, never fetched;
- the signature verifies with that key;
- it carries every claim of `REQUIRED_CLAIMS`, ``iss`` and ``aud`` match, and
  ``exp``/``iat`` (and ``nbf`` if present) hold within the leeway (≤ 60 s);
- ``sub`` is a UUID and ``role`` is a known role.

Keys come from a `KeySource`: `JwksKeySource` fetches and caches another
service's JWKS and keeps working on cached keys when that service is down.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, Protocol

import httpx
import jwt
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = [
    "ACCEPTED_ALGORITHMS",
    "MAX_LEEWAY_SECONDS",
    "REQUIRED_CLAIMS",
    "ROLES",
    "InvalidToken",
    "JwksKeySource",
    "KeySource",
    "Principal",
    "TokenVerifier",
    "open_jwks_verifier",
    "public_key_from_jwk",
]

ACCEPTED_ALGORITHMS: Final = ("EdDSA",)
REQUIRED_CLAIMS: Final = ("iss", "aud", "sub", "sid", "jti", "iat", "exp", "role")
ROLES: Final = frozenset({"user", "admin"})
MAX_LEEWAY_SECONDS: Final = 60
_ACCESS_TOKEN_TYPES: Final = frozenset({"at+jwt", "application/at+jwt"})
# Requests that queued on the fetch lock behind a fetch this recent use its result.
_JUST_FETCHED: Final = 0.5

_log = structlog.get_logger("servicekit.tokens")


class InvalidToken(Exception):
    """The token must not be accepted; ``reason`` is safe to show the client."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as a verified access token says."""

    user_id: uuid.UUID
    session_id: str
    role: str
    token_id: str
    issuer: str
    expires_at: int

    @property
    def is_admin(self) -> bool:
        """Whether the caller has the admin role."""
        return self.role == "admin"


class KeySource(Protocol):
    """Where a verifier finds the public key named by a token's ``kid``."""

    async def get_key(self, kid: str) -> Ed25519PublicKey | None:
        """The key named ``kid``, or ``None`` if there is no such key."""
        ...


class TokenVerifier:
    """Verifies access tokens and turns them into `Principal`s."""

    def __init__(self, keys: KeySource, *, issuer: str, audience: str, leeway: int) -> None:
        if not 0 <= leeway <= MAX_LEEWAY_SECONDS:
            raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY_SECONDS} seconds")
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway

    async def verify(self, token: str) -> Principal:
        """The principal of ``token``; raises `InvalidToken` if it must be refused."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        if header.get("alg") not in ACCEPTED_ALGORITHMS:
            raise InvalidToken("signing algorithm not accepted")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _ACCESS_TOKEN_TYPES:
            raise InvalidToken("not an access token")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("no key id")
        key = await self.keys.get_key(kid)
        if key is None:
            raise InvalidToken("unknown signing key")
        claims = self._decode(token, key)
        return _principal(claims)

    def _decode(self, token: str, key: Ed25519PublicKey) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(ACCEPTED_ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("token not valid yet") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("wrong audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("wrong issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"missing claim {exc.claim!r}") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("signature does not verify") from None
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        if claims["iat"] > time.time() + self.leeway:
            raise InvalidToken("token issued in the future")
        return claims


def _principal(claims: Mapping[str, Any]) -> Principal:
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError:
        raise InvalidToken("subject is not a user id") from None
    session_id, token_id, role = claims["sid"], claims["jti"], claims["role"]
    if not isinstance(session_id, str) or not isinstance(token_id, str):
        raise InvalidToken("malformed token")
    if role not in ROLES:
        raise InvalidToken("unknown role")
    return Principal(
        user_id=user_id,
        session_id=session_id,
        role=role,
        token_id=token_id,
        issuer=claims["iss"],
        expires_at=int(claims["exp"]),
    )


def public_key_from_jwk(jwk: Mapping[str, Any]) -> Ed25519PublicKey | None:
    """The Ed25519 public key of a JWK, or ``None`` if it is not one we can use."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        return None
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", "EdDSA") not in ACCEPTED_ALGORITHMS:
        return None
    if "d" in jwk:  # a private key has no business in a JWKS
        return None
    try:
        key = jwt.PyJWK(dict(jwk), algorithm="EdDSA").key
    except jwt.PyJWTError:
        return None
    return key if isinstance(key, Ed25519PublicKey) else None


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
    jwks_url: str,
    *,
    issuer: str,
    audience: str,
    leeway: int,
    cache_ttl: float,
    fetch_timeout: float,
) -> AsyncIterator[TokenVerifier]:
    """A verifier of tokens signed with the keys published at ``jwks_url``.

    The first fetch is tried at once but may fail (the issuer may start later);
    the first token with an unknown ``kid`` then tries again.
    """
    async with httpx.AsyncClient(timeout=fetch_timeout) as http:
        keys = JwksKeySource(jwks_url, http=http, cache_ttl=cache_ttl)
        await keys.refresh()
        try:
            yield TokenVerifier(keys, issuer=issuer, audience=audience, leeway=leeway)
        finally:
            await keys.aclose()
