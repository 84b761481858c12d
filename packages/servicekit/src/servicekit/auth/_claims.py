"""The claims of an access token, as the contract's "Access tokens" section says."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "ACCEPTED_ALGORITHMS",
    "ACCESS_TOKEN_TYPES",
    "MAX_LEEWAY_SECONDS",
    "REQUIRED_CLAIMS",
    "ROLES",
    "InvalidToken",
    "Principal",
    "principal_from_claims",
]

ACCEPTED_ALGORITHMS: Final = ("EdDSA",)


REQUIRED_CLAIMS: Final = ("iss", "aud", "sub", "sid", "jti", "iat", "exp", "role")


ROLES: Final = frozenset({"user", "admin"})


MAX_LEEWAY_SECONDS: Final = 60


ACCESS_TOKEN_TYPES: Final = frozenset({"at+jwt", "application/at+jwt"})


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
        role=role,
        token_id=token_id,
        issuer=claims["iss"],
        expires_at=int(claims["exp"]),
    )
