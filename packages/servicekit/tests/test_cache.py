"""`ResponseCache` against a real Redis: read-through, stampedes, coherence, absence, outages."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from redis.asyncio import Redis

from servicekit.cache import CachedResponse, ResponseCache, representation
from servicekit.devstack import free_port
from servicekit.redis import ScriptBatcher
from servicekit.testing import Batchers

OLD = CachedResponse(b'"1"', b'{"version":1}')
NEW = CachedResponse(b'"2"', b'{"version":2}')


class Loads:
    """A loader that counts its calls and answers what it is told, when it is told."""

    def __init__(
        self,
        answer: CachedResponse | None,
        *,
        delay: float = 0,
        release: asyncio.Event | None = None,
    ) -> None:
        self.answer = answer
        self.delay = delay
        self.release = release
        self.calls = 0

    async def __call__(self) -> CachedResponse | None:
        self.calls += 1
        answer = self.answer  # what the database said when the load began
        if self.release is not None:
            await self.release.wait()
        await asyncio.sleep(self.delay)
        return answer


def _cache(
    scripts: ScriptBatcher, *, ttl: float = 300, absent_ttl: float = 5, enabled: bool = True
) -> ResponseCache:
    return ResponseCache(
        scripts,
        namespace="test:cache",
        ttl=ttl,
        absent_ttl=absent_ttl,
        enabled=enabled,
    )


async def test_a_miss_loads_and_fills_then_hits_need_no_load(
    batchers: Batchers, redis: Redis
) -> None:
    cache, load = _cache(batchers(redis)), Loads(OLD)

    first = await cache.get("item", "1", load)
    second = await cache.get("item", "1", load)

    assert first == second == OLD
    assert load.calls == 1
    assert (cache.counts["miss"], cache.counts["hit"]) == (1, 1)


async def test_a_miss_seen_by_a_lookup_is_not_asked_again_by_get(
    batchers: Batchers, redis: Redis
) -> None:
    cache, load = _cache(batchers(redis)), Loads(OLD)
    before = await _evalsha_calls(redis)

    missed = await _looked_up(cache, "1")
    loaded = await cache.get("item", "1", load)
    hit = await _looked_up(cache, "1")

    assert missed is None
    assert loaded == hit == OLD
    # The lookup's read, get's fill, the second lookup's read: no second read for the miss.
    assert await _evalsha_calls(redis) - before == 3


async def _looked_up(cache: ResponseCache, key: str) -> CachedResponse | None:
    lookup = cache.lookup("item", key)
    assert lookup is not None
    return await lookup.response()


async def _evalsha_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {"calls": 0})["calls"])


async def test_an_absence_is_remembered_briefly(batchers: Batchers, redis: Redis) -> None:
    cache, load = _cache(batchers(redis), absent_ttl=0.2), Loads(None)

    assert await cache.get("item", "404", load) is None
    assert await cache.get("item", "404", load) is None
    await asyncio.sleep(0.3)
    assert await cache.get("item", "404", load) is None

    assert load.calls == 2


async def test_one_load_per_key_however_many_ask_at_once(batchers: Batchers, redis: Redis) -> None:
    cache, load = _cache(batchers(redis)), Loads(OLD, delay=0.05)

    answers = await asyncio.gather(*(cache.get("item", "1", load) for _ in range(50)))

    assert answers == [OLD] * 50
    assert load.calls == 1
    assert cache.counts["stampede_wait"] == 49


async def test_another_instance_waits_for_the_load_under_way(
    batchers: Batchers, redis: Redis, redis_url: str
) -> None:
    other_client = Redis.from_url(redis_url)
    one, other = _cache(batchers(redis)), _cache(batchers(other_client))
    load = Loads(OLD, delay=0.05)
    try:
        answers = await asyncio.gather(one.get("item", "1", load), other.get("item", "1", load))
    finally:
        await other_client.aclose()

    assert list(answers) == [OLD, OLD]
    assert load.calls == 1


async def test_a_fill_that_a_write_overtook_is_refused(batchers: Batchers, redis: Redis) -> None:
    cache, release = _cache(batchers(redis)), asyncio.Event()
    slow = Loads(OLD, release=release)
    # A read misses and loads version 1; a write commits version 2 and invalidates;
    # then the read's fill arrives, with the row it read before the write.
    reading = asyncio.create_task(cache.get("item", "1", slow))
    await asyncio.sleep(0.05)
    await cache.invalidate("item", "1")
    release.set()
    assert await reading == OLD

    after = await cache.get("item", "1", Loads(NEW))

    assert after == NEW
    assert cache.counts["stale_fill_refused"] == 1


async def test_after_invalidate_the_next_read_loads_again(batchers: Batchers, redis: Redis) -> None:
    cache = _cache(batchers(redis))
    await cache.get("item", "1", Loads(OLD))

    await cache.invalidate("item", "1")

    assert await cache.get("item", "1", Loads(NEW)) == NEW


async def test_entries_live_the_ttl_give_or_take_a_tenth(batchers: Batchers, redis: Redis) -> None:
    cache = _cache(batchers(redis), ttl=100)
    for key in range(20):
        await cache.get("item", str(key), Loads(OLD))

    ttls = [await redis.pttl(f"test:cache:item:{key}") for key in range(20)]

    assert all(90_000 <= ttl <= 110_000 for ttl in ttls)
    assert len(set(ttls)) > 1


async def test_without_redis_every_read_loads_and_none_fails(batchers: Batchers) -> None:
    away = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    cache, load = _cache(batchers(away)), Loads(OLD)
    try:
        answers = [await cache.get("item", "1", load) for _ in range(3)]
        await cache.invalidate("item", "1")
    finally:
        await away.aclose()

    assert answers == [OLD] * 3
    assert load.calls == 3
    assert cache.counts["error"] >= 3


async def test_switched_off_it_only_loads(batchers: Batchers, redis: Redis) -> None:
    cache, load = _cache(batchers(redis), enabled=False), Loads(OLD)

    await cache.get("item", "1", load)
    await cache.get("item", "1", load)

    assert load.calls == 2
    assert await redis.keys("test:cache:*") == []


def test_the_representation_changes_with_the_model() -> None:
    class Before(BaseModel):
        id: int
        name: str

    class After(BaseModel):
        id: int
        name: str
        description: str

    assert representation(Before) != representation(After)
    assert representation(Before) == representation(Before)
    assert len(representation(After)) == 8
