"""The Redis client of a service process, created in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from servicekit.redis._eviction import refuse_eviction
from servicekit.settings import RedisSettings

__all__ = ["Redis", "create_redis", "open_redis"]


def create_redis(settings: RedisSettings, *, client_name: str) -> Redis:
    """A client for ``settings.url``; it connects lazily, on first use."""
    return Redis.from_url(
        settings.url,
        socket_connect_timeout=settings.connect_timeout,
        socket_timeout=settings.socket_timeout,
        max_connections=settings.max_connections,
        health_check_interval=30,
        # One quick retry rides out a dropped connection; more would only
        # stretch the wait when Redis is really gone.
        retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), retries=1),
        client_name=client_name,
    )


@asynccontextmanager
async def open_redis(settings: RedisSettings, *, client_name: str) -> AsyncIterator[Redis]:
    """The process's Redis client, closed (with its pool) on exit.

    A service keeps what must not be lost there (the revocation list), so a Redis that
    evicts keys stops start-up (`refuse_eviction`).
    """
    client = create_redis(settings, client_name=client_name)
    try:
        await refuse_eviction(client, what="the revocation list of access tokens")
        yield client
    finally:
        await client.aclose()
