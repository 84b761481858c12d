"""Revocation when Redis fails: fail closed while it is away, rebuilt when it comes back empty."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from user_factories import PASSWORD, auth, log_in, register

from servicekit.devstack import EmbeddedRedis, free_port
from servicekit.redis import RedisEvicts
from servicekit.settings import RedisSettings
from servicekit.testing import app_client
from users.main import create_app
from users.settings import UsersSettings


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own, to stop and start empty (it keeps nothing on disk)."""
    server = EmbeddedRedis(
        tmp_path / "valkey", port=free_port(), password=secrets.token_urlsafe(16), durable=False
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_a_revoked_token_stays_refused_after_redis_restarts_empty(
    settings: UsersSettings, own_redis: EmbeddedRedis
) -> None:
    on_own = settings.model_copy(
        update={
            "redis": RedisSettings(url=own_redis.url(), connect_timeout=0.3, socket_timeout=0.3)
        }
    )
    async with app_client(create_app(on_own)) as client:
        user = await register(client)
        revoked = await log_in(client, user["email"])
        valid = await log_in(client, user["email"])
        assert (
            await client.post("/auth/logout", headers=auth(revoked["access_token"]))
        ).status_code == 204

        own_redis.stop()
        while_down = await client.get("/users/me", headers=auth(valid["access_token"]))
        logout_while_down = await client.post("/auth/logout", headers=auth(valid["access_token"]))
        login_while_down = await client.post(
            "/auth/token", data={"username": user["email"], "password": PASSWORD}
        )
        own_redis.start()  # empty: nothing was kept
        empty = Redis.from_url(own_redis.url())
        keys_after_restart = await empty.dbsize()
        await empty.aclose()
        after_revoked = await client.get("/users/me", headers=auth(revoked["access_token"]))
        after_valid = await client.get("/users/me", headers=auth(valid["access_token"]))

    # Fail closed: no token is trusted while the denylist cannot be read; public calls go on.
    assert while_down.status_code == logout_while_down.status_code == 503
    assert while_down.headers["retry-after"] == "1"
    assert while_down.json()["type"] == "/problems/service-unavailable"
    assert login_while_down.status_code == 200
    # Back, empty, rebuilt from PostgreSQL before any token is trusted again.
    assert keys_after_restart == 0
    assert after_revoked.status_code == 401
    assert "revoked" in after_revoked.json()["detail"]
    assert after_valid.status_code == 200


async def test_the_keeper_rebuilds_the_list_without_waiting_for_a_request(
    settings: UsersSettings, redis: Redis
) -> None:
    async with app_client(create_app(settings)) as client:
        user = await register(client)
        tokens = await log_in(client, user["email"])
        await client.post("/auth/logout", headers=auth(tokens["access_token"]))
        await redis.flushdb()

        rebuilt = await _wait_for_keys(redis, "revoked:*:complete")

    assert rebuilt
    assert await redis.keys("revoked:*:sid:*")


async def _wait_for_keys(redis: Redis, pattern: str, *, seconds: float = 3.0) -> bool:
    for _ in range(int(seconds * 20)):
        if await redis.keys(pattern):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_start_up_stops_on_a_redis_that_evicts_keys(
    settings: UsersSettings, own_redis: EmbeddedRedis
) -> None:
    evicting = Redis.from_url(own_redis.url())
    await evicting.config_set("maxmemory", "64mb")
    await evicting.config_set("maxmemory-policy", "allkeys-lru")
    await evicting.aclose()
    on_own = settings.model_copy(update={"redis": RedisSettings(url=own_redis.url())})

    with pytest.raises(RedisEvicts, match="maxmemory-policy noeviction") as refused:
        async with app_client(create_app(on_own)):
            pass

    assert "allkeys-lru" in str(refused.value)
