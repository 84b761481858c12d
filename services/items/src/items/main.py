"""The items app: `create_app(settings)`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from items import __version__
from items.item.endpoints import router as item_router
from items.settings import ItemsSettings
from servicekit.app import create_service_app
from servicekit.database import open_database
from servicekit.redis import open_redis
from servicekit.state import ServiceState
from servicekit.tokens import open_jwks_verifier

__all__ = ["create_app"]

_DESCRIPTION = """\
The item catalogue. Reads are public; creating needs an access token from the users
service (`Authorization: Bearer <token>`), and changing or deleting needs the item's owner
or an admin. Errors are RFC 9457 problem details.
"""


def create_app(settings: ItemsSettings) -> FastAPI:
    """The items service's ASGI app; resources open in its lifespan."""
    return create_service_app(
        settings,
        name="items",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lambda: _lifespan(settings),
        routers=[item_router],
    )


@asynccontextmanager
async def _lifespan(settings: ItemsSettings) -> AsyncIterator[ServiceState]:
    async with (
        open_database(settings.database, application_name="items") as database,
        open_redis(settings.redis, client_name="items") as redis,
        open_jwks_verifier(
            settings.jwks.url,
            issuer=settings.token.issuer,
            audience=settings.token.audience,
            leeway=settings.token.leeway,
            cache_ttl=settings.jwks.cache_ttl,
            fetch_timeout=settings.jwks.fetch_timeout,
        ) as verifier,
    ):
        yield ServiceState(database=database, redis=redis, verifier=verifier)
