"""The pytest plugin every service's tests use (``-p servicekit.testing``).

Fixtures, for the whole run:

- ``postgres_url``: a real PostgreSQL server (``TEST_DATABASE_URL`` if set, else
  an embedded one in a temporary directory, stopped at the end);
- ``redis_url``: a real Redis/Valkey (``TEST_REDIS_URL`` if set, else embedded);
- ``token_factory`` and ``jwks_url``: a test signing key and its JWKS on a real
  HTTP server, for services that verify tokens issued elsewhere.

And helpers for a service's own ``conftest.py``: `prepare_database` and
`TestDatabase` (migrated once, rolled back per test), `running_app` (an app
with its lifespan, behind an ``httpx`` client), `TokenFactory`.

Every database and Redis the tests use is theirs: a test run drops and
recreates its databases and flushes its Redis database.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from servicekit.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from servicekit.settings import TokenSettings
from servicekit.testing.database import TestDatabase, prepare_database
from servicekit.testing.tokens import JwksServer, TokenFactory, serve_jwks

__all__ = [
    "JwksServer",
    "TestDatabase",
    "TokenFactory",
    "jwks_url",
    "postgres_url",
    "prepare_database",
    "redis_url",
    "running_app",
    "serve_jwks",
    "token_factory",
]


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a PostgreSQL server where tests may create databases."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    server = EmbeddedPostgres(
        tmp_path_factory.mktemp("postgres") / "data",
        port=free_port(),
        password=secrets.token_urlsafe(16),
        durable=False,
    )
    server.start()
    try:
        yield server.url()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Redis database the tests own (flushed by the tests that use it)."""
    external = os.environ.get("TEST_REDIS_URL")
    if external:
        yield external
        return
    server = EmbeddedRedis(
        tmp_path_factory.mktemp("valkey") / "data",
        port=free_port(),
        password=secrets.token_urlsafe(16),
        durable=False,
    )
    server.start()
    try:
        yield server.url()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def token_factory() -> TokenFactory:
    """Mints access tokens with the issuer and audience of the default settings."""
    defaults = TokenSettings()
    return TokenFactory(issuer=defaults.issuer, audience=defaults.audience)


@pytest.fixture(scope="session")
def jwks_url(token_factory: TokenFactory) -> Iterator[str]:
    """The URL of ``token_factory``'s JWKS, served over real HTTP."""
    with serve_jwks(token_factory.jwks()) as server:
        yield server.url


@asynccontextmanager
async def running_app(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan; a client that talks to it in-process."""
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
