"""`RateLimiter`: GCRA in Redis, leases for busy clients, a local limiter while Redis is away."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any, Final

from redis.exceptions import RedisError

from servicekit.ratelimit._gcra import Decision, gcra
from servicekit.ratelimit._policy import RatePolicy
from servicekit.ratelimit._scripts import LEASE_SCRIPT
from servicekit.redis import Outage, ScriptBatcher

__all__ = ["RateLimiter"]

_LOCAL_KEYS: Final = 100_000
"""Clients remembered in-process (leases, the local limiter); the least recent go first."""
_LARGEST_LEASE: Final = 64


@dataclass(slots=True)
class _Lease:
    """Requests one instance took from a client's quota at once, used one by one."""

    unused: int
    remaining: int
    """What Redis said was left of the quota beyond the lease."""
    whole_at: float
    """When (monotonic) the quota would be whole again, the lease used up."""
    expires: float
    """After this, the unused requests are given back with the next call."""
    size: int
    fetching: asyncio.Future[None] | None = None
    """Set while the next lease is being taken: the client's other requests wait for it."""


class RateLimiter:
    """Decides, per policy and client, whether a request may go ahead.

    Every instance of a service shares the counts in Redis, through one GCRA script
    that decides atomically, so concurrent requests can never take more than the
    quota; the calls of concurrent requests travel together (`ScriptBatcher`).

    A busy client is not worth a round trip per request: when an instance uses up
    what it took for a client before ``lease_seconds`` pass, it takes twice as many
    next time (up to a tenth of the quota, at most 64), and serves them from memory.
    They are taken from the shared quota in Redis first, so no instance can ever
    admit what the quota does not allow; what an instance did not use in time it
    gives back with its next call for that client. A client near its limit is down
    to single requests again: a lease is never more than what remains.

    When Redis does not answer within the batcher's timeout, an in-process limiter
    with the same arithmetic takes over (logged once per outage, counted in ``fallbacks``)
    and Redis is asked again a second later: limits hold per instance meanwhile,
    never "no limit".
    """

    def __init__(
        self, scripts: ScriptBatcher, *, namespace: str, lease_seconds: float = 0.5
    ) -> None:
        self.namespace = namespace
        self.lease_seconds = lease_seconds
        self._scripts = scripts
        self._leases: OrderedDict[str, _Lease] = OrderedDict()
        self._local: OrderedDict[str, float] = OrderedDict()
        self._outage = Outage("rate_limit")
        self.fallbacks = 0
        """Decisions made locally because Redis could not be asked."""
        self.refused: Counter[str] = Counter()
        """Refused requests, by policy name."""

    async def hit(self, policy: RatePolicy, client: str) -> Decision:
        """Count one request of ``client`` against ``policy``: admitted or not."""
        decision = await self._decide(policy, self._key(policy, client))
        if not decision.allowed:
            self.refused[policy.name] += 1
        return decision

    async def refund(self, policy: RatePolicy, client: str) -> None:
        """Give back one request counted by `hit`: an attempt that turned out not to
        count, such as a login that succeeded."""
        key = self._key(policy, client)
        if await self._run(key, policy, wanted=0, given_back=1) is not None:
            return
        tat = self._local.get(key)
        if tat is not None:
            self._local[key] = max(tat - policy.window / policy.quota, time.time())

    def _key(self, policy: RatePolicy, client: str) -> str:
        return f"{self.namespace}:rl:{policy.name}:{client}"

    async def _decide(self, policy: RatePolicy, key: str) -> Decision:
        interval = policy.window / policy.quota
        while True:
            now = time.monotonic()
            lease = self._leases.get(key)
            if lease is None:
                break
            if lease.unused and now < lease.expires:
                lease.unused -= 1
                return _from_lease(lease, now, interval)
            if lease.fetching is None:
                break
            # One lease at a time per client: wait for the one being taken, share it.
            await lease.fetching
        wanted, given_back = self._next_lease(lease, policy, now)
        if lease is not None:
            lease.fetching = asyncio.get_running_loop().create_future()
        try:
            reply = await self._run(key, policy, wanted=wanted, given_back=given_back)
        finally:
            if lease is not None and lease.fetching is not None:
                lease.fetching.set_result(None)
                lease.fetching = None
        if reply is None:
            self.fallbacks += 1
            return self._hit_locally(key, policy)
        granted, remaining, reset_ms, retry_ms = (int(value) for value in reply)
        if not granted:
            self._leases.pop(key, None)
            return Decision(
                allowed=False,
                remaining=0,
                reset=math.ceil(reset_ms / 1000),
                retry_after=max(1, math.ceil(retry_ms / 1000)),
            )
        now = time.monotonic()
        lease = _Lease(
            unused=granted - 1,
            remaining=remaining,
            whole_at=now + reset_ms / 1000,
            expires=now + self.lease_seconds,
            size=wanted,
        )
        self._remember(self._leases, key, lease)
        return _from_lease(lease, now, interval)

    def _next_lease(self, lease: _Lease | None, policy: RatePolicy, now: float) -> tuple[int, int]:
        """How many requests to ask for, and how many unused ones to give back.

        The earlier lease's unused requests are given back here, before any await,
        so that two requests of one client can never give the same ones back twice.
        """
        if lease is None:
            return 1, 0
        given_back, lease.unused = lease.unused, 0
        largest = max(1, min(_LARGEST_LEASE, policy.quota // 10))
        if given_back:
            return max(1, lease.size // 2), given_back
        busy = now < lease.expires
        return (min(largest, lease.size * 2) if busy else 1), 0

    async def _run(self, key: str, policy: RatePolicy, *, wanted: int, given_back: int) -> Any:
        """The script's reply; None while Redis is taken to be away."""
        if self._outage.ongoing:
            return None
        args = [policy.quota, policy.window * 1000, wanted, given_back]
        try:
            reply = await self._scripts.run(LEASE_SCRIPT, [key], args)
        except (RedisError, OSError, TimeoutError) as exc:
            self._outage.failed(exc, meanwhile="per-instance limits until Redis answers")
            # Leases were taken from Redis's counts: they cannot be given back now.
            self._leases.clear()
            return None
        self._outage.answered()
        return reply

    def _hit_locally(self, key: str, policy: RatePolicy) -> Decision:
        now = time.time()
        decision, tat = gcra(
            self._local.get(key, now), now, quota=policy.quota, window=policy.window
        )
        self._remember(self._local, key, tat)
        return decision

    @staticmethod
    def _remember(table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        if len(table) > _LOCAL_KEYS:
            table.popitem(last=False)


def _from_lease(lease: _Lease, now: float, interval: float) -> Decision:
    """A request served from ``lease``: the lease's unused requests are the client's."""
    return Decision(
        allowed=True,
        remaining=lease.remaining + lease.unused,
        reset=max(1, math.ceil(lease.whole_at - lease.unused * interval - now)),
        retry_after=0,
    )
