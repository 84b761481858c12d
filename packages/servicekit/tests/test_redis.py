"""`ScriptBatcher` and chained Lua functions, against real Redis."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from servicekit.redis import LuaCall, LuaFunction, ScriptBatcher, chained, chained_arguments

INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
FAIL = "return redis.error_reply('refused: ' .. ARGV[1])"
ECHO_ALL = "local all = {KEYS[1]} for i, v in ipairs(ARGV) do all[i + 1] = v end return all"


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


async def test_arguments_of_every_kind_arrive_as_sent(redis: Redis) -> None:
    batcher = ScriptBatcher(redis, timeout=2)

    reply = await batcher.run(ECHO_ALL, ["clé"], ["ünïcode", b"\x00\xffbytes", 42, 0.25, ""])

    assert reply == [
        "clé".encode(),
        "ünïcode".encode(),
        b"\x00\xffbytes",
        b"42",
        b"0.25",
        b"",
    ]


class TestChained:
    LEAD = LuaFunction("lead", "return {tonumber(args[1]), keys[1]}")
    FIRST = LuaFunction("first", "return {keys[1], args[1], args[2]}")
    SECOND = LuaFunction("second", "return #keys + #args")

    async def _run(self, redis: Redis, gate_value: int) -> list[object]:
        script = chained(self.LEAD, "head[1] >= 1", [self.FIRST, self.SECOND])
        calls = [
            LuaCall(self.FIRST, ["k1"], ["a", "b"]),
            LuaCall(self.SECOND, [], []),
        ]
        keys, args = chained_arguments(["lead-key"], [gate_value], calls)
        reply: list[object] = await ScriptBatcher(redis, timeout=2).run(script, keys, args)
        return reply

    async def test_followers_run_in_order_when_the_gate_is_open(self, redis: Redis) -> None:
        assert await self._run(redis, 1) == [[1, b"lead-key"], [b"k1", b"a", b"b"], 0]

    async def test_nothing_follows_when_the_gate_is_shut(self, redis: Redis) -> None:
        assert await self._run(redis, 0) == [[0, b"lead-key"]]

    def test_a_function_name_must_be_a_lua_name(self) -> None:
        with pytest.raises(ValueError, match="not a Lua function name"):
            LuaFunction("not a name", "return 1")


async def test_a_call_sent_alone_is_settled_with_its_reply(redis: Redis) -> None:
    batcher = ScriptBatcher(redis, timeout=2)
    call = LuaCall(TestChained.FIRST, ["k"], ["x", "y"])

    batcher.call(call)

    assert call.sent
    assert await call.reply == [b"k", b"x", b"y"]
