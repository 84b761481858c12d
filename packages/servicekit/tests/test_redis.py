"""`ScriptBatcher`: the scripts of concurrent callers in one round trip, against real Redis."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from servicekit.redis import ScriptBatcher

INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
FAIL = "return redis.error_reply('refused: ' .. ARGV[1])"


async def _calls(redis: Redis) -> dict[str, int]:
    stats = await redis.info("commandstats")
    return {name: int(value["calls"]) for name, value in stats.items()}


async def test_concurrent_calls_share_one_pipeline(redis: Redis) -> None:
    batcher = ScriptBatcher(redis, timeout=2)
    await batcher.run(INCR, ["counter"], [0])  # loads the script once
    before = await _calls(redis)

    replies = await asyncio.gather(*(batcher.run(INCR, ["counter"], [1]) for _ in range(50)))
    after = await _calls(redis)

    assert sorted(replies) == list(range(1, 51))
    assert after["cmdstat_evalsha"] - before["cmdstat_evalsha"] == 50
    # Nothing but the scripts and INFO: no SCRIPT EXISTS or LOAD per batch.
    assert {name for name in after if after[name] != before.get(name)} == {
        "cmdstat_evalsha",
        "cmdstat_incrby",
        "cmdstat_info",
    }


async def test_a_script_redis_forgot_is_loaded_again(redis: Redis) -> None:
    batcher = ScriptBatcher(redis, timeout=2)
    await batcher.run(INCR, ["counter"], [1])
    await redis.script_flush()

    assert await batcher.run(INCR, ["counter"], [1]) == 2


async def test_an_error_reply_goes_to_its_caller_only(redis: Redis) -> None:
    batcher = ScriptBatcher(redis, timeout=2)

    results: list[object] = await asyncio.gather(
        batcher.run(INCR, ["counter"], [5]),
        batcher.run(FAIL, ["counter"], ["no"]),
        return_exceptions=True,
    )
    good, bad = results

    assert good == 5
    assert isinstance(bad, ResponseError)
    assert "refused: no" in str(bad)


async def test_an_unreachable_redis_fails_every_waiter(unused_tcp_port: int) -> None:
    client = Redis(host="127.0.0.1", port=unused_tcp_port, socket_connect_timeout=0.2)
    batcher = ScriptBatcher(client, timeout=2)
    try:
        results = await asyncio.gather(
            *(batcher.run(INCR, ["counter"], [1]) for _ in range(3)), return_exceptions=True
        )
    finally:
        await client.aclose()

    assert all(isinstance(r, RedisConnectionError | TimeoutError) for r in results), results


@pytest.fixture
def unused_tcp_port() -> int:
    from servicekit.devstack import free_port  # noqa: PLC0415 -- only this test needs it

    return free_port()
