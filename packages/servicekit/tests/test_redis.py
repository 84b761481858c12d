"""`ScriptBatcher` and chained Lua functions, against real Redis."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from servicekit.redis import LuaCall, LuaFunction, ScriptBatcher, chained, chained_arguments
from servicekit.testing import Batchers

INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
FAIL = "return redis.error_reply('refused: ' .. ARGV[1])"
ECHO_ALL = "local all = {KEYS[1]} for i, v in ipairs(ARGV) do all[i + 1] = v end return all"


async def _calls(redis: Redis) -> dict[str, int]:
    stats = await redis.info("commandstats")
    return {name: int(value["calls"]) for name, value in stats.items()}


async def test_concurrent_calls_share_one_pipeline(batchers: Batchers, redis: Redis) -> None:
    batcher = batchers(redis, timeout=2)
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


async def test_a_full_batch_is_written_at_once_and_the_rest_at_the_end_of_the_turn(
    batchers: Batchers, redis: Redis
) -> None:
    batcher = batchers(redis, timeout=2, max_batch=16)
    await batcher.run(INCR, ["counter"], [0])
    before = batcher.batches
    replies = [batcher.submit(INCR, ["counter"], [1]) for _ in range(50)]
    written_before_the_turn_ended = batcher.batches - before

    assert sorted(await asyncio.gather(*replies)) == list(range(1, 51))
    assert written_before_the_turn_ended == 3  # 16, 16 and 16 ...
    assert batcher.batches - before == 4  # ... and the last 2
    assert batcher.calls == 51


def test_a_batch_holds_at_least_one_call(redis: Redis) -> None:
    with pytest.raises(ValueError, match="max_batch must be at least 1"):
        ScriptBatcher(redis, max_batch=0)


async def test_a_script_redis_forgot_is_loaded_again(batchers: Batchers, redis: Redis) -> None:
    batcher = batchers(redis, timeout=2)
    await batcher.run(INCR, ["counter"], [1])
    await redis.script_flush()

    assert await batcher.run(INCR, ["counter"], [1]) == 2


async def test_an_error_reply_goes_to_its_caller_only(batchers: Batchers, redis: Redis) -> None:
    batcher = batchers(redis, timeout=2)

    results: list[object] = await asyncio.gather(
        batcher.run(INCR, ["counter"], [5]),
        batcher.run(FAIL, ["counter"], ["no"]),
        return_exceptions=True,
    )
    good, bad = results

    assert good == 5
    assert isinstance(bad, ResponseError)
    assert "refused: no" in str(bad)


async def test_an_unreachable_redis_fails_every_waiter(
    batchers: Batchers, unused_tcp_port: int
) -> None:
    client = Redis(host="127.0.0.1", port=unused_tcp_port, socket_connect_timeout=0.2)
    batcher = batchers(client, timeout=2)
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


async def test_arguments_of_every_kind_arrive_as_sent(batchers: Batchers, redis: Redis) -> None:
    batcher = batchers(redis, timeout=2)

    reply = await batcher.run(ECHO_ALL, ["clé"], ["ünïcode", b"\x00\xffbytes", 42, 0.25, ""])

    assert reply == [
        "clé".encode(),
        "ünïcode".encode(),
        b"\x00\xffbytes",
        b"42",
        b"0.25",
        b"",
    ]


async def test_integers_arrive_as_sent_however_many_there_are(
    batchers: Batchers, redis: Redis
) -> None:
    # More distinct integers than the packer remembers, twice: remembered or not, each
    # arrives as itself.
    numbers = [-(2**63), -1, 0, 7, 10**18, *range(5000)]
    batcher = batchers(redis, timeout=2)

    for _ in range(2):
        reply = await batcher.run(ECHO_ALL, ["numbers"], numbers)
        assert reply == [b"numbers", *(str(n).encode() for n in numbers)]


class TestChained:
    LEAD = LuaFunction("lead", "return {tonumber(args[1]), keys[1]}")
    FIRST = LuaFunction("first", "return {keys[1], args[1], args[2]}")
    SECOND = LuaFunction("second", "return #keys + #args")

    async def _run(self, batchers: Batchers, redis: Redis, gate_value: int) -> list[object]:
        script = chained(self.LEAD, "head[1] >= 1", [self.FIRST, self.SECOND])
        calls = [
            LuaCall(self.FIRST, ["k1"], ["a", "b"]),
            LuaCall(self.SECOND, [], []),
        ]
        keys, args = chained_arguments(["lead-key"], [gate_value], calls)
        reply: list[object] = await batchers(redis, timeout=2).run(script, keys, args)
        return reply

    async def test_followers_run_in_order_when_the_gate_is_open(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        assert await self._run(batchers, redis, 1) == [[1, b"lead-key"], [b"k1", b"a", b"b"], 0]

    async def test_nothing_follows_when_the_gate_is_shut(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        assert await self._run(batchers, redis, 0) == [[0, b"lead-key"]]

    def test_a_function_name_must_be_a_lua_name(self) -> None:
        with pytest.raises(ValueError, match="not a Lua function name"):
            LuaFunction("not a name", "return 1")


async def test_a_call_sent_alone_is_settled_with_its_reply(
    batchers: Batchers, redis: Redis
) -> None:
    batcher = batchers(redis, timeout=2)
    call = LuaCall(TestChained.FIRST, ["k"], ["x", "y"])

    batcher.call(call)

    assert call.sent
    assert await call.reply == [b"k", b"x", b"y"]


async def test_a_bool_argument_is_refused(batchers: Batchers, redis: Redis) -> None:
    with pytest.raises(TypeError, match="bool"):
        await batchers(redis, timeout=2).run(ECHO_ALL, [], [True])


class TestConnection:
    """The batcher's own connection: made as the client's pool makes one, and given up
    (every caller answered) when it fails, then made again."""

    async def test_it_authenticates_and_selects_the_clients_database(
        self, batchers: Batchers, redis_url: str
    ) -> None:
        client = Redis.from_url(redis_url, db=3, client_name="test-scripts")
        try:
            await client.delete("counter")
            assert await batchers(client).run(INCR, ["counter"], [7]) == 7

            assert await client.get("counter") == b"7"
            names = [c["name"] for c in await client.client_list()]
            assert names.count("test-scripts") == 2  # the pool's and the batcher's
        finally:
            await client.delete("counter")
            await client.aclose()

    async def test_wrong_credentials_fail_the_callers(
        self, batchers: Batchers, redis_url: str
    ) -> None:
        address = urlsplit(redis_url)
        assert address.hostname is not None
        assert address.port is not None
        client = Redis(host=address.hostname, port=address.port, password="not-the-password")
        try:
            with pytest.raises(AuthenticationError):
                await batchers(client).run(INCR, ["counter"], [1])
        finally:
            await client.aclose()

    async def test_a_killed_connection_fails_what_was_in_flight_then_is_made_again(
        self, batchers: Batchers, redis_url: str
    ) -> None:
        client = Redis.from_url(redis_url, client_name="test-killed")
        batcher = batchers(client, timeout=2)
        try:
            await batcher.run(INCR, ["counter"], [1])
            own = await client.client_id()  # the pool's connection, not the batcher's
            ours = [
                c["id"]
                for c in await client.client_list()
                if c["name"] == "test-killed" and int(c["id"]) != own
            ]
            # Writes wait while clients are paused: the call is in flight when it is killed.
            await client.client_pause(2000, all=False)
            in_flight = asyncio.ensure_future(batcher.run(INCR, ["counter"], [1]))
            await asyncio.sleep(0.05)
            for client_id in ours:
                await client.client_kill_filter(_id=client_id, skipme=False)
            await client.client_unpause()

            with pytest.raises(RedisConnectionError, match=r"lost|closed"):
                await in_flight
            assert await batcher.run(INCR, ["counter"], [1]) == 2
        finally:
            await client.aclose()

    async def test_a_redis_that_does_not_answer_in_time_fails_every_waiter(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        batcher = batchers(redis, timeout=0.1)
        await batcher.run(INCR, ["counter"], [1])

        await redis.client_pause(300)
        results = await asyncio.gather(
            batcher.run(INCR, ["counter"], [1]),
            batcher.run(INCR, ["counter"], [1]),
            return_exceptions=True,
        )

        assert all(isinstance(r, TimeoutError) for r in results), results
        await asyncio.sleep(0.4)  # the pause ends; the next call connects again
        # What the closed connection had sent was dropped with it, never run.
        assert await batcher.run(INCR, ["counter"], [1]) == 2

    async def test_a_caller_that_gives_up_does_not_shift_the_replies(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        batcher = batchers(redis, timeout=2)
        first = asyncio.ensure_future(batcher.run(ECHO_ALL, ["first"], []))
        second = asyncio.ensure_future(batcher.run(ECHO_ALL, ["second"], []))
        await asyncio.sleep(0)  # both are written
        first.cancel()

        assert await second == [b"second"]
        assert await batcher.run(ECHO_ALL, ["third"], []) == [b"third"]

    async def test_a_closed_batcher_refuses_calls(self, batchers: Batchers, redis: Redis) -> None:
        batcher = batchers(redis)
        await batcher.run(INCR, ["counter"], [1])
        await batcher.aclose()

        with pytest.raises(RedisConnectionError, match="closed"):
            await batcher.run(INCR, ["counter"], [1])
