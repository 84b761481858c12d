"""`RateLimiter`: one Redis script call per decision, a local limiter while Redis is away."""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from typing import Any, Final

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from servicekit.ratelimit._gcra import Decision, gcra
from servicekit.ratelimit._policy import RatePolicy
from servicekit.ratelimit._scripts import GCRA_SCRIPT, REFUND_SCRIPT
from servicekit.redis import ScriptBatcher

__all__ = ["RateLimiter"]

_LOCAL_KEYS: Final = 100_000
"""Clients the local limiter remembers; the least recently seen is forgotten first."""
_RETRY_REDIS_AFTER: Final = 1.0
"""Seconds of local limiting after a failure before Redis is asked again."""

_log = structlog.get_logger("servicekit.ratelimit")


class RateLimiter:
    """Decides, per policy and client, whether a request may go ahead.

    Every instance of a service shares the counts through Redis: one GCRA script
    call per decision, atomic, so concurrent requests can never overshoot; the calls
    of concurrent requests travel together (`ScriptBatcher`). When
    Redis does not answer within ``timeout``, an in-process limiter with the same
    arithmetic takes over (logged once per outage, counted by ``on_fallback``) and
    Redis is asked again a second later: limits hold per instance meanwhile, never
    "no limit".
    """

    def __init__(self, redis: Redis, *, namespace: str, timeout: float = 0.25) -> None:
        self.redis = redis
        self.namespace = namespace
        self.timeout = timeout
        self._scripts = ScriptBatcher(redis, timeout=timeout)
        self._local: OrderedDict[str, float] = OrderedDict()
        self._redis_down_until = 0.0
        self.fallbacks = 0
        """Decisions made locally because Redis could not be asked."""
        self.refused: Counter[str] = Counter()
        """Refused requests, by policy name."""

    async def hit(self, policy: RatePolicy, client: str) -> Decision:
        """Count one request of ``client`` against ``policy``: admitted or not."""
        decision = await self._decide(policy, client)
        if not decision.allowed:
            self.refused[policy.name] += 1
        return decision

    async def refund(self, policy: RatePolicy, client: str) -> None:
        """Give back one request counted by `hit`: an attempt that turned out not to
        count, such as a login that succeeded."""
        key = self._key(policy, client)
        if await self._run(REFUND_SCRIPT, key, policy) is not None:
            return
        tat = self._local.get(key)
        if tat is not None:
            self._local[key] = max(tat - policy.window / policy.quota, time.time())

    def _key(self, policy: RatePolicy, client: str) -> str:
        return f"{self.namespace}:rl:{policy.name}:{client}"

    async def _decide(self, policy: RatePolicy, client: str) -> Decision:
        key = self._key(policy, client)
        reply = await self._run(GCRA_SCRIPT, key, policy)
        if reply is not None:
            return _decision(reply)
        self.fallbacks += 1
        return self._hit_locally(key, policy)

    async def _run(self, script: str, key: str, policy: RatePolicy) -> Any:
        """The script's reply; None while Redis is taken to be away."""
        if time.monotonic() < self._redis_down_until:
            return None
        try:
            reply = await self._scripts.run(script, [key], [policy.quota, policy.window * 1000])
        except (RedisError, OSError, TimeoutError) as exc:
            self._went_down(exc)
            return None
        if self._redis_down_until:
            self._redis_down_until = 0.0
            _log.info("rate_limit_redis_back")
        return reply

    def _went_down(self, exc: BaseException) -> None:
        if not self._redis_down_until:
            _log.warning(
                "rate_limit_redis_unavailable",
                error=str(exc) or type(exc).__name__,
                fallback="per-instance limits until Redis answers",
            )
        self._redis_down_until = time.monotonic() + _RETRY_REDIS_AFTER

    def _hit_locally(self, key: str, policy: RatePolicy) -> Decision:
        now = time.time()
        decision, tat = gcra(
            self._local.get(key, now), now, quota=policy.quota, window=policy.window
        )
        self._local[key] = tat
        self._local.move_to_end(key)
        if len(self._local) > _LOCAL_KEYS:
            self._local.popitem(last=False)
        return decision


def _decision(reply: list[int]) -> Decision:
    allowed, remaining, reset_ms, retry_ms = (int(value) for value in reply)
    return Decision(
        allowed=bool(allowed),
        remaining=remaining,
        reset=-(-reset_ms // 1000),
        retry_after=max(1, -(-retry_ms // 1000)) if not allowed else 0,
    )
