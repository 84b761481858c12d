"""The claims of an access token, as the contract's "Access tokens" section says.

The one place that says what an access token carries: the issuer builds its
claims with `access_token_claims`, the verifier requires `REQUIRED_CLAIMS` and
reads them back with `principal_from_claims`, and the test token factory does
both the same way.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, cast, get_args

from servicekit.ids import uuid7

__all__ = [
    "ACCEPTED_ALGORITHMS",
    "ACCESS_TOKEN_TYPE",
    "ACCESS_TOKEN_TYPES",
    "MAX_LEEWAY_SECONDS",
    "REQUIRED_CLAIMS",
    "ROLES",
    "SIGNING_ALGORITHM",
    "InvalidToken",
    "Principal",
    "Role",
    "access_token_claims",
    "principal_from_claims",
]

Role = Literal["user", "admin"]
"""What a user may do: ``admin`` may do anything a ``user`` may, to anyone's resources."""
ROLES: Final[tuple[Role, ...]] = get_args(Role)

SIGNING_ALGORITHM: Final = "EdDSA"
"""JWS ``alg`` of every access token: Ed25519 signatures."""
ACCEPTED_ALGORITHMS: Final = (SIGNING_ALGORITHM,)
ACCESS_TOKEN_TYPE: Final = "at+jwt"  # noqa: S105 -- a media type, not a secret
"""JWS ``typ`` of an access token (RFC 9068); `ACCESS_TOKEN_TYPES` are its accepted spellings."""
ACCESS_TOKEN_TYPES: Final = frozenset({ACCESS_TOKEN_TYPE, f"application/{ACCESS_TOKEN_TYPE}"})
REQUIRED_CLAIMS: Final = ("iss", "aud", "sub", "sid", "jti", "iat", "exp", "role")
MAX_LEEWAY_SECONDS: Final = 60
"""The most clock skew a verifier may tolerate on ``exp`` and ``iat``."""


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
    role: Role
    token_id: str
    issuer: str
    expires_at: int

    @property
    def is_admin(self) -> bool:
        """Whether the caller has the admin role."""
        return self.role == "admin"


def access_token_claims(
    *,
    issuer: str,
    audience: str,
    subject: uuid.UUID,
    session_id: uuid.UUID | str,
    role: Role,
    ttl: int,
    client_id: str | None = None,
) -> dict[str, Any]:
    """The claims of a new access token for ``subject``, valid for ``ttl`` seconds from now.

    RFC 9068's (``client_id`` is ``public`` when no client says who it is), plus
    ``sid`` (the session, which revocation names) and ``role``; ``jti`` is new.
    """
    now = int(time.time())
    return {
        "iss": issuer,
        "aud": audience,
        "sub": str(subject),
        "sid": str(session_id),
        "jti": str(uuid7()),
        "iat": now,
        "exp": now + ttl,
        "role": role,
        "client_id": client_id or "public",
    }


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """The caller a verified token's claims name; `InvalidToken` if they are not well-formed."""
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
        role=cast("Role", role),
        token_id=token_id,
        issuer=claims["iss"],
        expires_at=int(claims["exp"]),
    )
