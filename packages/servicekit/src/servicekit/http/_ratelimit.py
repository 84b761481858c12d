"""Rate limits beyond the default one, for endpoints that need their own (login, sign-up)."""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response

from servicekit.errors import RateLimited
from servicekit.ratelimit import RatePolicy, rate_limit_headers
from servicekit.state import service_state

__all__ = ["client_address", "enforce_rate_limit", "hashed", "refund_rate_limit"]


async def enforce_rate_limit(
    request: Request, response: Response, policy: RatePolicy, client: str
) -> None:
    """Count this request against ``policy`` for ``client``; `RateLimited` (429) if refused.

    Its ``RateLimit-Policy`` and ``RateLimit`` fields join the default policy's on
    ``response`` (a list of items, as the draft allows), or on the 429.
    """
    decision = await service_state(request).rate_limiter.hit(policy, client)
    fields = [
        (name.decode(), value.decode()) for name, value in rate_limit_headers(policy, decision)
    ]
    if decision.allowed:
        for name, value in fields:
            response.headers.append(name, value)
        return
    raise RateLimited(
        f"Too many attempts ({policy.quota} per {policy.window} s); "
        f"retry in {decision.retry_after} s.",
        retry_after=decision.retry_after,
        headers=dict(fields),
    )


async def refund_rate_limit(request: Request, policy: RatePolicy, client: str) -> None:
    """Give back the request `enforce_rate_limit` counted, when it turned out not to count
    (a login that succeeded: only failures should bring a client closer to its limit)."""
    await service_state(request).rate_limiter.refund(policy, client)


def client_address(request: Request) -> str:
    """The client's address as the app sees it (behind trusted proxies, the forwarded one)."""
    return request.client.host if request.client else "unknown"


def hashed(value: str) -> str:
    """A short digest of ``value`` for a rate-limit key: no e-mail address in Redis's keys."""
    return hashlib.blake2b(value.encode(), digest_size=12).hexdigest()
