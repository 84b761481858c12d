"""The items app: `create_app(settings)`."""

from __future__ import annotations

from fastapi import FastAPI

from items import __version__
from items.events import EVENTS
from items.item.endpoints import CACHED_ITEM
from items.item.endpoints import router as item_router
from items.settings import ItemsSettings
from servicekit.app import create_service_app
from servicekit.state import open_service_state

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
        lifespan=lambda: open_service_state(
            settings, name="items", token=settings.token, jwks=settings.jwks
        ),
        routers=[item_router],
        cached_routes=[CACHED_ITEM],
        events=EVENTS,
    )
