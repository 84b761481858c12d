"""The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers), as bytes."""

from __future__ import annotations

from servicekit.ratelimit._gcra import Decision
from servicekit.ratelimit._policy import RatePolicy

__all__ = ["rate_limit_headers"]


def rate_limit_headers(policy: RatePolicy, decision: Decision) -> list[tuple[bytes, bytes]]:
    """``RateLimit-Policy`` and ``RateLimit``, structured fields (a refusal's ``Retry-After``
    comes with its `RateLimited` problem)."""
    return [
        (b"ratelimit-policy", policy.policy_field),
        (
            b"ratelimit",
            b"%s;r=%d;t=%d" % (policy.name_field, decision.remaining, decision.reset),
        ),
    ]
