"""Rate limits: the GCRA arithmetic, and the limiter on a real Redis and without one."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from servicekit.devstack import free_port
from servicekit.ratelimit import Decision, RateLimiter, RatePolicy, gcra, rate_limit_headers
from servicekit.redis import LuaCall, LuaFunction
from servicekit.settings import Rate
from servicekit.testing import Batchers

TEN_PER_MINUTE = RatePolicy(name="default", quota=10, window=60)
A_HUNDRED_PER_MINUTE = RatePolicy(name="default", quota=100, window=60)
ECHO = LuaFunction("echo", "return {keys[1], args[1]}")
MARK = LuaFunction("mark", "return redis.call('SET', keys[1], '1') and 1")


class TestRate:
    @pytest.mark.parametrize(
        ("text", "quota", "window"),
        [
            ("600/minute", 600, 60),
            ("10/second", 10, 1),
            ("5 / 15minutes", 5, 900),
            ("1000/2hours", 1000, 7200),
            ("100000/day", 100000, 86400),
        ],
    )
    def test_quota_and_window(self, text: str, quota: int, window: int) -> None:
        assert Rate.parse(text) == Rate(quota, window)

    @pytest.mark.parametrize("text", ["", "600", "600/fortnight", "-1/minute", "0/minute", "a/b"])
    def test_nonsense_is_refused(self, text: str) -> None:
        with pytest.raises(ValueError, match=r"rate|quota"):
            Rate.parse(text)


class TestGcra:
    def test_a_burst_of_the_quota_then_refusals(self) -> None:
        tat, now = 0.0, 1000.0
        decisions = []
        for _ in range(11):
            decision, tat = gcra(tat, now, quota=10, window=60)
            decisions.append(decision)

        assert [d.allowed for d in decisions] == [True] * 10 + [False]
        assert [d.remaining for d in decisions[:10]] == list(range(9, -1, -1))
        assert decisions[0].reset == 6  # one emission interval to refill
        assert decisions[9].reset == 60
        assert decisions[10].retry_after == 6

    def test_it_refills_one_interval_at_a_time(self) -> None:
        tat, now = 0.0, 1000.0
        for _ in range(10):
            _, tat = gcra(tat, now, quota=10, window=60)

        too_soon, tat = gcra(tat, now + 5.9, quota=10, window=60)
        in_time, tat = gcra(tat, now + 6.0, quota=10, window=60)

        assert not too_soon.allowed
        assert in_time.allowed
        assert in_time.remaining == 0

    def test_a_refusal_does_not_count(self) -> None:
        tat, now = 0.0, 1000.0
        for _ in range(10):
            _, tat = gcra(tat, now, quota=10, window=60)
        _, after_refusal = gcra(tat, now, quota=10, window=60)

        assert after_refusal == tat

    def test_a_large_quota_counts_exactly_at_todays_clock(self) -> None:
        # Absolute times in a double lose sub-microsecond precision: not a request.
        now = 1_764_688_000.123
        first, tat = gcra(now, now, quota=100_000, window=60)
        second, _ = gcra(tat, now, quota=100_000, window=60)

        assert (first.remaining, second.remaining) == (99_999, 99_998)

    def test_an_idle_client_gets_the_whole_quota_back(self) -> None:
        tat, now = 0.0, 1000.0
        for _ in range(10):
            _, tat = gcra(tat, now, quota=10, window=60)
        decision, _ = gcra(tat, now + 3600, quota=10, window=60)

        assert decision.remaining == 9


class TestHeaders:
    def test_structured_fields_of_the_ietf_draft(self) -> None:
        policy = RatePolicy(name="default", quota=600, window=60)
        allowed = Decision(allowed=True, remaining=599, reset=1, retry_after=0)
        refused = Decision(allowed=False, remaining=0, reset=60, retry_after=1)

        assert dict(rate_limit_headers(policy, allowed)) == {
            b"ratelimit-policy": b'"default";q=600;w=60',
            b"ratelimit": b'"default";r=599;t=1',
        }
        assert dict(rate_limit_headers(policy, refused))[b"ratelimit"] == b'"default";r=0;t=60'


async def _evalsha_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {"calls": 0})["calls"])


def _one_and_another(
    batchers: Batchers, redis: Redis, *, lease_seconds: float
) -> tuple[RateLimiter, RateLimiter]:
    """Two instances on one Redis: the one under test, with leases of ``lease_seconds``,
    and another whose next decision shows what Redis has counted for a client."""
    return (
        RateLimiter(batchers(redis), namespace="test", lease_seconds=lease_seconds),
        RateLimiter(batchers(redis), namespace="test"),
    )


class TestRateLimiter:
    async def test_counts_per_client_and_refuses_past_the_quota(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        limiter = RateLimiter(batchers(redis), namespace="test")

        alice = [await limiter.hit(TEN_PER_MINUTE, "user:alice") for _ in range(11)]
        bob = await limiter.hit(TEN_PER_MINUTE, "user:bob")

        assert [d.remaining for d in alice[:10]] == list(range(9, -1, -1))
        assert not alice[10].allowed
        assert 1 <= alice[10].retry_after <= 6
        assert bob.allowed
        assert bob.remaining == 9

    async def test_no_overshoot_across_instances_under_concurrency(
        self, batchers: Batchers, redis: Redis, redis_url: str
    ) -> None:
        # Two instances: two clients, two pools, one Redis.
        other = Redis.from_url(redis_url)
        limiters = [
            RateLimiter(batchers(redis), namespace="test"),
            RateLimiter(batchers(other), namespace="test"),
        ]
        policy = RatePolicy(name="default", quota=50, window=60)
        try:
            decisions = await asyncio.gather(
                *(limiters[i % 2].hit(policy, "ip:203.0.113.9") for i in range(200))
            )
        finally:
            await other.aclose()

        assert sum(d.allowed for d in decisions) == 50
        assert all(d.retry_after >= 1 for d in decisions if not d.allowed)

    async def test_a_busy_client_is_served_from_leases_exactly(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        limiter = RateLimiter(batchers(redis), namespace="test")
        policy = RatePolicy(name="default", quota=600, window=60)
        before = await _evalsha_calls(redis)

        decisions = [await limiter.hit(policy, "user:busy") for _ in range(40)]

        assert [d.remaining for d in decisions] == list(range(599, 559, -1))
        # One request, then one that finds the first counted in Redis (busy), then
        # leases of 2, 4, 8, 16, 32: seven round trips for forty requests.
        assert await _evalsha_calls(redis) - before == 7

    async def test_unused_leased_requests_are_given_back(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        policy = A_HUNDRED_PER_MINUTE
        one, other = _one_and_another(batchers, redis, lease_seconds=0.05)
        for _ in range(4):  # takes of 1, 1, 2 and 4: four requests of the last unused
            await one.hit(policy, "user:alice")
        await asyncio.sleep(0.1)  # the lease expires

        elsewhere = await other.hit(policy, "user:alice")
        again = await one.hit(policy, "user:alice")

        # The other instance sees the lease as taken; once given back, the
        # client has used exactly six of its hundred.
        assert elsewhere.remaining == 100 - 8 - 1
        assert again.remaining == 100 - 6

    async def test_a_client_redis_still_counts_is_busy_whichever_instance_it_used(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        policy = A_HUNDRED_PER_MINUTE  # one request's count lasts 0.6 s
        one, other = _one_and_another(batchers, redis, lease_seconds=0.5)
        await other.hit(policy, "user:alice")
        await one.hit(policy, "user:alice")  # alone, and finds alice counted: busy
        await one.hit(policy, "user:alice")  # takes two

        elsewhere = await other.hit(policy, "user:alice")

        assert elsewhere.remaining == 100 - 4 - 1

    async def test_a_client_redis_no_longer_counts_takes_one_at_a_time(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        policy = RatePolicy(name="default", quota=300, window=60)  # a request counts 0.2 s
        one, other = _one_and_another(batchers, redis, lease_seconds=0.05)
        await one.hit(policy, "user:alice")
        for _ in range(2):
            await asyncio.sleep(0.3)  # past its count and the 0.05 s the count lingers
            await one.hit(policy, "user:alice")

        elsewhere = await other.hit(policy, "user:alice")

        # What Redis counts: the last request alone (two, had it been taken for busy).
        assert elsewhere.remaining == 300 - 1 - 1

    async def test_leases_never_admit_more_than_the_quota(
        self, batchers: Batchers, redis: Redis, redis_url: str
    ) -> None:
        other = Redis.from_url(redis_url)
        limiters = [
            RateLimiter(batchers(redis), namespace="test"),
            RateLimiter(batchers(other), namespace="test"),
        ]
        policy = RatePolicy(name="default", quota=100, window=60)
        try:
            warm = [await limiters[i % 2].hit(policy, "user:busy") for i in range(20)]
            burst = await asyncio.gather(
                *(limiters[i % 2].hit(policy, "user:busy") for i in range(300))
            )
        finally:
            await other.aclose()

        admitted = sum(d.allowed for d in [*warm, *burst])
        # Never more than the quota; at most a lease (a tenth of it) per instance unused.
        assert 100 - 2 * 10 <= admitted <= 100

    async def test_what_rides_with_a_decision_costs_no_call_of_its_own(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        limiter = RateLimiter(batchers(redis), namespace="test")
        await limiter.hit(TEN_PER_MINUTE, "user:bob", then=[LuaCall(ECHO, ["k"], ["v"])])
        before = await _evalsha_calls(redis)  # the script is known to Redis by now

        along = LuaCall(ECHO, ["test:along"], ["first"])
        decision = await limiter.hit(TEN_PER_MINUTE, "user:alice", then=[along])

        assert decision.allowed
        assert await along.reply == [b"test:along", b"first"]
        assert await _evalsha_calls(redis) - before == 1

    async def test_what_rides_with_a_refused_request_never_runs(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        limiter = RateLimiter(batchers(redis), namespace="test")
        for _ in range(10):
            await limiter.hit(TEN_PER_MINUTE, "user:alice")

        along = LuaCall(MARK, ["test:marked"], [])
        refused = await limiter.hit(TEN_PER_MINUTE, "user:alice", then=[along])

        assert not refused.allowed
        assert along.reply.cancelled()
        assert await redis.exists("test:marked") == 0

    async def test_a_request_served_from_a_lease_sends_what_rides_with_it(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        limiter = RateLimiter(batchers(redis), namespace="test")
        policy = RatePolicy(name="default", quota=600, window=60)
        for _ in range(3):  # takes of 1, 1 (busy from then on) and 2: the next is leased
            await limiter.hit(policy, "user:busy")

        along = LuaCall(MARK, ["test:marked"], [])
        await limiter.hit(policy, "user:busy", then=[along])

        assert await along.reply == 1
        assert await redis.exists("test:marked") == 1

    async def test_keys_expire_a_lease_time_after_the_quota_is_whole_again(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        limiter = RateLimiter(batchers(redis), namespace="test", lease_seconds=0.5)
        await limiter.hit(TEN_PER_MINUTE, "user:alice")  # whole again in 6 s

        ttl = await redis.pttl("test:rl:default:user:alice")

        assert 6_000 < ttl <= 6_500

    async def test_without_redis_a_local_limiter_still_limits(self, batchers: Batchers) -> None:
        unreachable = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
        limiter = RateLimiter(batchers(unreachable), namespace="test")
        try:
            with capture_logs() as logs:
                decisions = [
                    await limiter.hit(TEN_PER_MINUTE, "ip:198.51.100.7") for _ in range(12)
                ]
        finally:
            await unreachable.aclose()

        assert [d.allowed for d in decisions] == [True] * 10 + [False] * 2
        assert limiter.fallbacks == 12
        assert [line["event"] for line in logs] == ["rate_limit_redis_unavailable"]

    async def test_a_refund_gives_one_request_back(self, batchers: Batchers, redis: Redis) -> None:
        limiter = RateLimiter(batchers(redis), namespace="test")
        for _ in range(10):
            await limiter.hit(TEN_PER_MINUTE, "user:alice")

        await limiter.refund(TEN_PER_MINUTE, "user:alice")
        after_refund = await limiter.hit(TEN_PER_MINUTE, "user:alice")
        refused = await limiter.hit(TEN_PER_MINUTE, "user:alice")

        assert after_refund.allowed
        assert not refused.allowed
