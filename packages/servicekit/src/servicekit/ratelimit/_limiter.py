"""`RateLimiter`: GCRA in Redis, leases for busy clients, a local limiter while Redis is away."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from redis.exceptions import RedisError

from servicekit.ratelimit._gcra import Decision, gcra
from servicekit.ratelimit._policy import RatePolicy
from servicekit.ratelimit._scripts import ADMITTED, TAKE
from servicekit.redis import (
    LuaCall,
    LuaFunction,
    Outage,
    ScriptBatcher,
    chained,
    chained_arguments,
)

__all__ = ["RateLimiter"]

_LOCAL_KEYS: Final = 100_000
"""Clients remembered in-process (leases, the local limiter); the least recent go first."""
_LARGEST_LEASE: Final = 64
_REDIS_ERRORS: Final = (RedisError, OSError, TimeoutError)


@dataclass(slots=True)
class _Lease:
    """Requests one instance took from a client's quota, handed out one by one."""

    unused: int
    remaining: int
    """What Redis said was left of the quota beyond what this instance took."""
    whole_at: float
    """When (monotonic) the quota would be whole again, what was taken used up."""
    expires: float
    """After this, the unused requests are given back with the next call."""
    size: int
    """How many the last take asked for."""
    refill: asyncio.Future[None] | None = None
    """Set while the next take is under way: a request that finds nothing unused waits."""
    dry: bool = False
    """Redis refused the last take: the client is at its limit, take no more ahead."""


class RateLimiter:
    """Decides, per policy and client, whether a request may go ahead.

    Every instance of a service shares the counts in Redis, through one GCRA script
    that decides atomically, so concurrent requests can never take more than the
    quota; the calls of concurrent requests travel together (`ScriptBatcher`).

    A request that must ask Redis can bring other questions for it (`hit`'s ``then``:
    the cache entry it will send, say): they run in the same script, only if the
    request is admitted, and the request costs one script call instead of several.

    A busy client is not worth a round trip per request: an instance takes several of
    its requests at once and hands them out from memory (a lease), twice as many at
    each take while the client keeps it busy (up to a tenth of the quota, at most 64),
    and takes the next ones when half are used, so that requests rarely wait for
    Redis at all. They are taken from the shared quota in Redis first, so no instance
    can ever admit what the quota does not allow; what an instance did not use within
    ``lease_seconds`` it gives back with its next call for that client. A client near
    its limit is down to single requests again: a lease is never more than what remains.

    Busy is what Redis says: a client's count stays there ``lease_seconds`` past its
    TAT, and a single request that finds it there marks the client busy on this
    instance for as long (its next request takes two), whichever instance its earlier
    requests went to. A quiet client leaves nothing behind in the process, where an
    instance serving many of them would otherwise note each one.

    When Redis does not answer within the batcher's timeout, an in-process limiter
    with the same arithmetic takes over (logged once per outage, counted in
    ``fallbacks``) and Redis is asked again a second later: limits hold per instance
    meanwhile, never "no limit".
    """

    def __init__(
        self, scripts: ScriptBatcher, *, namespace: str, lease_seconds: float = 0.5
    ) -> None:
        self.namespace = namespace
        self.lease_seconds = lease_seconds
        self._scripts = scripts
        self._leases: OrderedDict[str, _Lease] = OrderedDict()
        self._linger = max(1, round(lease_seconds * 1000))
        """How long (ms) Redis keeps a client's count past its TAT: found, the client
        was busy lately."""
        self._local: OrderedDict[str, float] = OrderedDict()
        self._chains: dict[tuple[LuaFunction, ...], str] = {}
        self._outage = Outage("rate_limit")
        self.fallbacks = 0
        """Decisions made locally because Redis could not be asked."""
        self.refused: Counter[str] = Counter()
        """Refused requests, by policy name."""

    async def hit(
        self, policy: RatePolicy, client: str, *, then: Sequence[LuaCall] = ()
    ) -> Decision:
        """Count one request of ``client`` against ``policy``: admitted or not.

        The calls of ``then`` are sent if the request is admitted (in the limit's own
        script when it goes to Redis, else on their own), and dropped if it is not.

        The path of every request: one coroutine, the rest synchronous helpers (a quiet
        client's request is a script call and its bookkeeping, nothing more).
        """
        key = f"{self.namespace}:rl:{policy.name}:{client}"
        while (lease := self._leases.get(key)) is not None:
            now = time.monotonic()
            if lease.unused and now < lease.expires:
                lease.unused -= 1
                if lease.unused < lease.size // 2 and lease.refill is None and not lease.dry:
                    self._refill(key, policy, lease)
                self._send(then)
                return _from_lease(lease, now, policy.window / policy.quota)
            if lease.refill is None:
                break
            # Taken up, or past its time, with the next take on its way: wait for it.
            await lease.refill
        if self._outage.ongoing:
            decision = self._hit_locally(key, policy, then)
        else:
            wanted, given_back = (
                (1, 0) if lease is None else self._next_take(key, lease, policy, time.monotonic())
            )
            try:
                answer = await self._ask(key, policy, wanted, given_back, then)
            except _REDIS_ERRORS as exc:
                self._unanswered(exc, then)
                decision = self._hit_locally(key, policy, then)
            else:
                self._outage.answered()
                decision = self._taken(key, policy, wanted, _settled(answer, then))
        if not decision.allowed:
            self.refused[policy.name] += 1
        return decision

    async def refund(self, policy: RatePolicy, client: str) -> None:
        """Give back one request counted by `hit`: an attempt that turned out not to
        count, such as a login that succeeded."""
        key = f"{self.namespace}:rl:{policy.name}:{client}"
        if not self._outage.ongoing:
            try:
                await self._ask(key, policy, 0, 1, ())
            except _REDIS_ERRORS as exc:
                self._unanswered(exc, ())
            else:
                self._outage.answered()
                return
        tat = self._local.get(key)
        if tat is not None:
            self._local[key] = max(tat - policy.window / policy.quota, time.time())

    def _ask(
        self,
        key: str,
        policy: RatePolicy,
        wanted: int,
        given_back: int,
        then: Sequence[LuaCall],
    ) -> asyncio.Future[Any]:
        """Send the take, the calls of ``then`` chained after it (`_settled` answers them)."""
        args = [policy.quota, policy.window * 1000, wanted, given_back, self._linger]
        if not then:
            return self._scripts.submit(TAKE.script, [key], args)
        for call in then:
            call.sent = True
        keys, chained_args = chained_arguments([key], args, then)
        return self._scripts.submit(self._chain(then), keys, chained_args)

    def _unanswered(self, exc: BaseException, then: Sequence[LuaCall]) -> None:
        """Redis did not answer the take: limits are local until it does."""
        self._outage.failed(exc, meanwhile="per-instance limits until Redis answers")
        # Leases were taken from Redis's counts: they cannot be given back now.
        self._leases.clear()
        for call in then:
            call.settle(exc)

    def _taken(self, key: str, policy: RatePolicy, wanted: int, reply: Any) -> Decision:
        """The decision of Redis's reply to a take of ``wanted``; a lease of what it granted."""
        granted, remaining, reset_ms, retry_ms, found = reply  # Lua integers: ints
        if not granted:
            self._leases.pop(key, None)
            return Decision(
                allowed=False,
                remaining=0,
                reset=math.ceil(reset_ms / 1000),
                retry_after=max(1, math.ceil(retry_ms / 1000)),
            )
        if wanted == 1:
            if found and key not in self._leases and _largest(policy) > 1:
                # Redis still held the client's count: it was busy lately, here or on
                # another instance. An empty lease says so: its next request takes two.
                self._lease(key, 0, remaining, reset_ms, 1, time.monotonic())
            reset = (reset_ms + 999) // 1000  # a grant's reset_ms is at least 1
            return Decision(True, remaining, reset, 0)  # noqa: FBT003 -- hot path: keywords cost 0.4 µs
        now = time.monotonic()
        lease = self._lease(key, granted - 1, remaining, reset_ms, wanted, now)
        return _from_lease(lease, now, policy.window / policy.quota)

    def _lease(
        self, key: str, unused: int, remaining: int, reset_ms: int, size: int, now: float
    ) -> _Lease:
        """Keep a lease of ``unused`` requests of a take of ``size`` for ``key``'s client,
        from Redis's reply (``remaining``, ``reset_ms``) at ``now``."""
        lease = _Lease(
            unused=unused,
            remaining=remaining,
            whole_at=now + reset_ms / 1000,
            expires=now + self.lease_seconds,
            size=size,
        )
        self._remember(self._leases, key, lease)
        return lease

    def _next_take(
        self, key: str, lease: _Lease, policy: RatePolicy, now: float
    ) -> tuple[int, int]:
        """How many requests to ask for, and how many unused ones to give back, for a
        client with a ``lease`` that has none to hand out.

        The lease's unused requests are given back here, before any await, so that two
        requests of one client can never give the same ones back twice. A lease that is
        down to single requests (past its time, or halved to one) goes too.
        """
        given_back, lease.unused = lease.unused, 0
        if given_back:
            wanted = max(1, lease.size // 2)
        else:
            wanted = min(_largest(policy), lease.size * 2) if now < lease.expires else 1
        if wanted == 1:
            self._leases.pop(key, None)
        return wanted, given_back

    def _refill(self, key: str, policy: RatePolicy, lease: _Lease) -> None:
        """Take the client's next requests now, while the lease still has some to hand out."""
        wanted = min(_largest(policy), lease.size * 2)
        refill = lease.refill = asyncio.get_running_loop().create_future()

        def refilled(reply: asyncio.Future[Any]) -> None:
            lease.refill = None
            refill.set_result(None)
            error = reply.exception()
            if error is not None:
                self._outage.failed(error, meanwhile="per-instance limits until Redis answers")
                return
            self._outage.answered()
            granted, remaining, reset_ms, _, _ = reply.result()
            now = time.monotonic()
            lease.dry = not granted
            lease.unused += granted
            lease.remaining = remaining if granted else 0
            if granted:
                lease.whole_at = now + reset_ms / 1000
                lease.expires = now + self.lease_seconds
                lease.size = wanted

        self._ask(key, policy, wanted, 0, ()).add_done_callback(refilled)

    def _chain(self, then: Sequence[LuaCall]) -> str:
        """The script of `TAKE` followed by the functions of ``then``."""
        followers = (
            (then[0].function,) if len(then) == 1 else tuple([call.function for call in then])
        )
        script = self._chains.get(followers)
        if script is None:
            script = self._chains[followers] = chained(TAKE, ADMITTED, followers)
        return script

    def _send(self, then: Sequence[LuaCall]) -> None:
        """Send the calls of ``then`` alone, but those already answered (failed with
        the take that carried them)."""
        for call in then:
            if not call.reply.done():
                self._scripts.call(call)

    def _hit_locally(self, key: str, policy: RatePolicy, then: Sequence[LuaCall]) -> Decision:
        """The in-process limiter's decision, while Redis is away (``then`` sent alone)."""
        self.fallbacks += 1
        now = time.time()
        decision, tat = gcra(
            self._local.get(key, now), now, quota=policy.quota, window=policy.window
        )
        self._remember(self._local, key, tat)
        if decision.allowed:
            self._send(then)
        return decision

    @staticmethod
    def _remember(table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        if len(table) > _LOCAL_KEYS:
            table.popitem(last=False)


def _largest(policy: RatePolicy) -> int:
    """The most requests of ``policy`` an instance takes at once."""
    return max(1, min(_LARGEST_LEASE, policy.quota // 10))


def _settled(answer: Any, then: Sequence[LuaCall]) -> Any:
    """The take's own reply from a chained script's ``answer``; the calls of ``then``
    answered from the rest (cancelled if the request was refused: they did not run)."""
    if not then:
        return answer
    if len(answer) > 1:  # admitted: every follower ran
        for index, call in enumerate(then, 1):
            call.settle(answer[index])
    else:
        for call in then:
            call.reply.cancel()
    return answer[0]


def _from_lease(lease: _Lease, now: float, interval: float) -> Decision:
    """A request served from ``lease``: the lease's unused requests are the client's."""
    reset = math.ceil(lease.whole_at - lease.unused * interval - now)
    return Decision(True, lease.remaining + lease.unused, reset if reset > 1 else 1, 0)  # noqa: FBT003 -- hot path
