"""The default rate limit of every API route, per client, applied before the app runs."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import Scope

from servicekit.auth import InvalidToken
from servicekit.http._context import VERIFIED_PRINCIPAL_KEY
from servicekit.ratelimit import Decision, RatePolicy
from servicekit.redis import LuaCall
from servicekit.state import STATE_KEY, ServiceState

__all__ = ["RequestRateLimit"]


class RequestRateLimit:
    """``policy`` on every path but the ``exempt`` prefixes (probes, metrics, docs).

    The client is the user of a valid access token, else the address the request
    came from (behind trusted proxies, the one they forwarded): a token shared by
    many addresses is one client, and many clients behind one NAT share a quota only
    until they log in. An invalid token counts against its address; the endpoint
    answers it with 401 as usual.
    """

    def __init__(self, policy: RatePolicy, *, exempt: Sequence[str]) -> None:
        self.policy = policy
        self.exempt = tuple(exempt)

    def applies(self, path: str) -> bool:
        """Whether requests to ``path`` are limited."""
        return not path.startswith(self.exempt)

    async def decide(
        self, scope: Scope, authorization: bytes | None, then: Sequence[LuaCall] = ()
    ) -> Decision | None:
        """The decision for this request (``then`` as `RateLimiter.hit` takes it); None
        for an app running without its lifespan."""
        state = scope.get("state", {}).get(STATE_KEY)
        if not isinstance(state, ServiceState):
            return None
        client = await _client(state, scope, authorization)
        return await state.rate_limiter.hit(self.policy, client, then=then)


async def _client(state: ServiceState, scope: Scope, authorization: bytes | None) -> str:
    if authorization is not None:
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and token:
            try:
                principal = await state.verifier.verify(token.strip())
            except InvalidToken:
                pass
            else:
                scope[VERIFIED_PRINCIPAL_KEY] = (token.strip(), principal)
                return f"user:{principal.user_id}"
    client = scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"
