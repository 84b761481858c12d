"""Rate limits: GCRA in Redis, shared by every instance, with the IETF header fields.

- `RatePolicy`: a named quota and window (a configured `servicekit.settings.Rate`);
- `RateLimiter`: one atomic Redis script call per decision (or per lease, for a
  busy client), and a local limiter while Redis is unreachable;
- `Decision`: what a client is told (`rate_limit_headers`).

Why GCRA rather than a sliding window: one key per client holding one number
(a sliding log holds a sorted set of every request in the window), no burst at a
window's edge (a fixed window admits twice the quota across one), and the
remaining count, reset and retry time fall out of that number exactly. The script
runs on Redis's clock, so instances whose clocks differ still agree.
"""

from servicekit.ratelimit._gcra import Decision, gcra
from servicekit.ratelimit._headers import rate_limit_headers
from servicekit.ratelimit._limiter import RateLimiter
from servicekit.ratelimit._policy import RatePolicy

__all__ = ["Decision", "RateLimiter", "RatePolicy", "gcra", "rate_limit_headers"]
