"""The pytest plugin every service's tests use (``-p servicekit.testing``).

Fixtures, for the whole run:

- ``postgres_url``: a real PostgreSQL server (``TEST_DATABASE_URL`` if set, else
  an embedded one in a temporary directory, stopped at the end);
- ``redis_url``: a real Redis/Valkey (``TEST_REDIS_URL`` if set, else embedded);
- ``token_factory`` and ``jwks_url``: a test signing key and its JWKS on a real
  HTTP server, for services that verify tokens issued elsewhere, and
  ``token_settings``, the `TokenSettings` that accept its tokens.

A service's ``conftest.py`` defines ``database_url`` (see `prepare_database`)
and ``app``; the plugin then gives its tests:

- ``client``: an ``httpx`` client of the app, running its real lifespan, with a
  clean database and Redis for each test (`app_client` makes one of any app);
- ``db``: the test's own session in the same transaction as the app's requests,
  rolled back when the test ends (see `TestDatabase`);
- ``redis``: a client of the tests' Redis database, flushed before each test (but
  for `TEST_ISSUER`'s revocation list, marked whole).

Every database and Redis the tests use is theirs: a test run drops and
recreates its databases and flushes its Redis database.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from typing import Any, Final

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import Revocations, TokenSettings
from servicekit.devstack import EmbeddedPostgres, EmbeddedRedis, free_port
from servicekit.redis import ScriptBatcher
from servicekit.testing._database import TestDatabase, prepare_database
from servicekit.testing._tokens import JwksServer, TokenFactory, serve_jwks

TEST_ISSUER: Final = "https://issuer.test"
"""The ``iss`` of the tokens ``token_factory`` mints."""

__all__ = [
    "TEST_ISSUER",
    "Batchers",
    "JwksServer",
    "TestDatabase",
    "TokenFactory",
    "app_client",
    "batchers",
    "client",
    "db",
    "jwks_url",
    "postgres_url",
    "prepare_database",
    "redis",
    "redis_url",
    "running",
    "serve_jwks",
    "servicekit_resources",
    "test_database",
    "token_factory",
    "token_settings",
]


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a PostgreSQL server where tests may create databases."""
    with _server_url("TEST_DATABASE_URL", EmbeddedPostgres, tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Redis database the tests own (flushed by the tests that use it)."""
    with _server_url("TEST_REDIS_URL", EmbeddedRedis, tmp_path_factory) as url:
        yield url


@contextmanager
def _server_url(
    variable: str,
    server_class: type[EmbeddedPostgres | EmbeddedRedis],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The server named by ``variable``, or an embedded one for this run (no fsync)."""
    external = os.environ.get(variable)
    if external:
        yield external
        return
    server = server_class(
        tmp_path_factory.mktemp(server_class.__name__) / "data",
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
    """Mints access tokens as `TEST_ISSUER`, for the audience ``api``."""
    return TokenFactory(issuer=TEST_ISSUER, audience="api")


@pytest.fixture(scope="session")
def token_settings(token_factory: TokenFactory) -> TokenSettings:
    """The token settings of a service that accepts ``token_factory``'s tokens."""
    return TokenSettings(issuer=token_factory.issuer, audience=token_factory.audience)


@pytest.fixture(scope="session")
def jwks_url(token_factory: TokenFactory) -> Iterator[str]:
    """The URL of ``token_factory``'s JWKS, served over real HTTP."""
    with serve_jwks(token_factory.jwks()) as server:
        yield server.url


@asynccontextmanager
async def app_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that talks to ``app`` in-process, its lifespan running meanwhile."""
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


class _RunningResources:
    """Session-long resources of every service under test, keyed by what they serve.

    Each service's tests have their own ``app`` and ``database_url``; a
    session-scoped fixture here would be built once for whichever service asked
    first, so these are kept per app and per URL instead, and closed at the end.
    """

    def __init__(self, stack: AsyncExitStack) -> None:
        self.stack = stack
        self.clients: dict[int, httpx.AsyncClient] = {}
        self.databases: dict[str, TestDatabase] = {}


@pytest.fixture(scope="session")
async def servicekit_resources() -> AsyncIterator[_RunningResources]:
    """Where the running apps and test databases of the session are kept."""
    async with AsyncExitStack() as stack:
        yield _RunningResources(stack)


@pytest.fixture
def test_database(database_url: str, servicekit_resources: _RunningResources) -> TestDatabase:
    """The service's test database (``database_url``, a fixture of the service's tests)."""
    database = servicekit_resources.databases.get(database_url)
    if database is None:
        database = servicekit_resources.databases[database_url] = TestDatabase(database_url)
        servicekit_resources.stack.push_async_callback(database.dispose)
    return database


@pytest.fixture
async def db(
    app: FastAPI, test_database: TestDatabase, running: httpx.AsyncClient
) -> AsyncIterator[AsyncSession]:
    """The test's session; the app's requests join its transaction, rolled back at the end.

    The app is running first: what reads through its state (not a FastAPI dependency)
    is joined to the transaction too.
    """
    async with test_database.rollback(app) as session:
        yield session


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """The tests' Redis database, empty at the start of each test but for the revocation
    list of `TEST_ISSUER`'s tokens, whole and empty (as its issuer would have left it)."""
    client = Redis.from_url(redis_url)
    await client.flushdb()
    async with ScriptBatcher(client) as scripts:
        await Revocations(scripts, issuer=TEST_ISSUER).mark_complete()
    yield client
    await client.aclose()


Batchers = Callable[..., ScriptBatcher]
"""``batchers(redis, timeout=…, max_batch=…)``: a `ScriptBatcher` on the client ``redis``."""


@pytest.fixture
async def batchers() -> AsyncIterator[Batchers]:
    """Script batchers for a test (each with a connection of its own), closed after it."""
    made: list[ScriptBatcher] = []

    def make(redis: Redis, **options: Any) -> ScriptBatcher:
        made.append(ScriptBatcher(redis, **options))
        return made[-1]

    yield make
    for batcher in made:
        await batcher.aclose()


@pytest.fixture
async def running(app: FastAPI, servicekit_resources: _RunningResources) -> httpx.AsyncClient:
    """A client of the service's ``app``, which starts once, on first use, and stops at
    the end of the run."""
    client = servicekit_resources.clients.get(id(app))
    if client is None:
        client = await servicekit_resources.stack.enter_async_context(app_client(app))
        servicekit_resources.clients[id(app)] = client
    return client


@pytest.fixture
async def client(running: httpx.AsyncClient, db: AsyncSession, redis: Redis) -> httpx.AsyncClient:
    """A client of the service's ``app``, for one test with a clean database and Redis."""
    return running
