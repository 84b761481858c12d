"""A request's bearer token: verified once, checked against the denylist once.

`ServiceMiddleware` reads it first, because the rate limit counts per user: it verifies
the token and starts the denylist check, which rides in the limit's own Redis script.
`CurrentPrincipal` then takes both from the scope (or does the same, for a request the
middleware did not see) and answers 401 for a bad or revoked token, 503 when whether
it is revoked cannot be known now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from servicekit.auth import InvalidToken, Principal
from servicekit.redis import LuaCall
from servicekit.state import ServiceState

__all__ = ["CREDENTIALS_KEY", "Credentials", "bearer_token", "read_credentials"]

CREDENTIALS_KEY: Final = "servicekit.credentials"
"""Scope key of the `Credentials` the middleware read."""


@dataclass(slots=True)
class Credentials:
    """A bearer token and what became of it."""

    token: str
    principal: Principal | None
    """Who it names, if it verified."""
    refusal: InvalidToken | None
    """Why it did not verify, if it did not."""
    revocation: LuaCall | None = None
    """The denylist check of a verified token, once started."""

    @property
    def client(self) -> str | None:
        """The rate limit's client: the token's user, if it verified."""
        return None if self.principal is None else f"user:{self.principal.user_id}"


def bearer_token(authorization: bytes | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if that is what it holds."""
    if authorization is None:
        return None
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def read_credentials(state: ServiceState, token: str, *, revocation: bool) -> Credentials:
    """``token`` verified; with ``revocation``, its denylist check made (not sent)."""
    try:
        principal = await state.verifier.verify(token)
    except InvalidToken as exc:
        return Credentials(token, None, exc)
    check = state.revocations.check(principal) if revocation else None
    return Credentials(token, principal, None, check)
