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

import hashlib
import time
from collections.abc import Callable
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from servicekit.auth._claims import (
    ACCEPTED_ALGORITHMS,
    ACCESS_TOKEN_TYPES,
    MAX_LEEWAY_SECONDS,
    REQUIRED_CLAIMS,
    InvalidToken,
    Principal,
    principal_from_claims,
)
from servicekit.auth._settings import TokenSettings

__all__ = ["KeySource", "TokenVerifier"]


class KeySource(Protocol):
    """Where a verifier finds the public key named by a token's ``kid``."""

    async def get_key(self, kid: str) -> Ed25519PublicKey | None:
        """The key named ``kid``, or ``None`` if there is no such key."""
        ...


class TokenVerifier:
    """Verifies access tokens and turns them into `Principal`s.

    A token it accepted is remembered until it expires (``cache_size`` of them at
    most; 0 remembers none), so a client's next request with it costs a dictionary
    lookup instead of a signature check and PyJWT's decoding (together ~0.4 ms
    here). The cache is keyed by a digest of the token, never the token, and checks
    the expiry again on every hit. What may end a token before it expires
    (revocation) is for the caller to check on every request, cached or not.
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway: int,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 <= leeway <= MAX_LEEWAY_SECONDS:
            raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY_SECONDS} seconds")
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self._cache_size = cache_size
        self._clock = clock
        self._accepted: dict[bytes, Principal] = {}

    @classmethod
    def configured(cls, keys: KeySource, settings: TokenSettings) -> TokenVerifier:
        """A verifier of ``keys`` with everything ``settings`` says (issuer, audience, …)."""
        return cls(
            keys,
            issuer=settings.issuer,
            audience=settings.audience,
            leeway=settings.leeway,
            cache_size=settings.cache_size,
        )

    async def verify(self, token: str) -> Principal:
        """The principal of ``token``; raises `InvalidToken` if it must be refused."""
        key = hashlib.blake2b(token.encode(), digest_size=16).digest()
        principal = self._accepted.get(key)
        if principal is not None:
            if self._clock() <= principal.expires_at + self.leeway:
                return principal
            del self._accepted[key]
        principal = await self._verify(token)
        if self._cache_size:
            if len(self._accepted) >= self._cache_size:
                # The oldest first: dicts keep insertion order.
                del self._accepted[next(iter(self._accepted))]
            self._accepted[key] = principal
        return principal

    async def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        if header.get("alg") not in ACCEPTED_ALGORITHMS:
            raise InvalidToken("signing algorithm not accepted")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
            raise InvalidToken("not an access token")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("no key id")
        key = await self.keys.get_key(kid)
        if key is None:
            raise InvalidToken("unknown signing key")
        claims = self._decode(token, key)
        return principal_from_claims(claims)

    def _decode(self, token: str, key: Ed25519PublicKey) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(ACCEPTED_ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                # The times are checked below, on this verifier's clock.
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
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
        self._check_times(claims)
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        """``exp``, ``iat`` and (if present) ``nbf`` hold now, within the leeway."""
        times = {name: claims[name] for name in ("exp", "iat", "nbf") if name in claims}
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in times.values()):
            raise InvalidToken("malformed token")
        now = self._clock()
        if times["exp"] + self.leeway < now:
            raise InvalidToken("token expired")
        if max(times["iat"], times.get("nbf", now)) - self.leeway > now:
            raise InvalidToken("token not valid yet")
