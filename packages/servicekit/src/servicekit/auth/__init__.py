"""Access tokens: their claims, their keys, and their verification.

- `access_token_claims` and `sign_access_token` make an access token (the
  issuer's and the test token factory's one way), `public_jwk` and
  `jwk_thumbprint` publish and name its key;
- `TokenVerifier` accepts a token only as the contract's "Access tokens" section
  says and turns it into a `Principal`, or raises `InvalidToken`;
- `Revocations`: the denylist in Redis that every service checks on every
  authenticated request (`TokenRevoked`, or `RevocationUnavailable`: fail closed),
  that the issuer writes (`Revoked` entries) and rebuilds from its database
  (a `RevocationSource`) when Redis has lost it;
- its keys come from a `KeySource`: `JwksKeySource` caches another service's
  JWKS (`open_jwks_verifier` builds a verifier on one);
- `TokenSettings` and `JwksSettings`: the settings sections of a service that
  verifies tokens.

Nothing here knows HTTP: the verified caller of a request is
`servicekit.http.CurrentPrincipal`.
"""

from servicekit.auth._claims import (
    ACCEPTED_ALGORITHMS,
    MAX_LEEWAY_SECONDS,
    REQUIRED_CLAIMS,
    ROLES,
    SIGNING_ALGORITHM,
    InvalidToken,
    Principal,
    Role,
    access_token_claims,
)
from servicekit.auth._jwk import jwk_thumbprint, public_jwk, public_key_from_jwk
from servicekit.auth._jwks import JwksKeySource, open_jwks_verifier
from servicekit.auth._revocation import (
    Revocations,
    RevocationSource,
    RevocationUnavailable,
    Revoked,
    TokenRevoked,
)
from servicekit.auth._settings import JwksSettings, TokenSettings
from servicekit.auth._signing import sign_access_token
from servicekit.auth._verifier import KeySource, TokenVerifier

__all__ = [
    "ACCEPTED_ALGORITHMS",
    "MAX_LEEWAY_SECONDS",
    "REQUIRED_CLAIMS",
    "ROLES",
    "SIGNING_ALGORITHM",
    "InvalidToken",
    "JwksKeySource",
    "JwksSettings",
    "KeySource",
    "Principal",
    "RevocationSource",
    "RevocationUnavailable",
    "Revocations",
    "Revoked",
    "Role",
    "TokenRevoked",
    "TokenSettings",
    "TokenVerifier",
    "access_token_claims",
    "jwk_thumbprint",
    "open_jwks_verifier",
    "public_jwk",
    "public_key_from_jwk",
    "sign_access_token",
]
