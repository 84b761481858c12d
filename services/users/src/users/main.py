"""The users app: `create_app(settings)`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from servicekit.app import create_service_app
from servicekit.auth import MAX_LEEWAY_SECONDS, TokenVerifier
from servicekit.db import open_database
from servicekit.redis import ScriptBatcher, open_redis
from users import __version__
from users.account.endpoints import router as account_router
from users.account.password import open_password_hasher
from users.events import EVENTS
from users.session.endpoints import router as session_router
from users.session.service import RecordedRevocations
from users.settings import UsersSettings
from users.signing_key.endpoints import router as signing_key_router
from users.signing_key.keyring import Keyring
from users.state import UsersState
from users.token.endpoints import router as token_router

__all__ = ["create_app"]

_DESCRIPTION = """\
Accounts, passwords, sessions and token issuing.

Log in at `POST /auth/token` (form fields `username` = e-mail, `password`) and send the
`access_token` as `Authorization: Bearer <token>`. Other services verify tokens with the
public keys at `GET /.well-known/jwks.json`. Errors are RFC 9457 problem details.
"""


def create_app(settings: UsersSettings) -> FastAPI:
    """The users service's ASGI app; resources open in its lifespan."""
    return create_service_app(
        settings,
        name="users",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lambda: _lifespan(settings),
        routers=[account_router, token_router, session_router, signing_key_router],
        events=EVENTS,
        conflicts={"uq_users_email_lower": "A user with this e-mail already exists."},
    )


@asynccontextmanager
async def _lifespan(settings: UsersSettings) -> AsyncIterator[UsersState]:
    async with (
        open_database(settings.database, application_name="users") as database,
        open_redis(settings.redis, client_name="users") as redis,
        ScriptBatcher(redis) as scripts,
        open_password_hasher(settings.password_hash) as passwords,
    ):
        keyring = await Keyring.load(
            database,
            key_encryption_key=settings.keys.key_bytes(),
            # A retired key verifies the tokens it signed until the last one expires.
            publish_retired_for=timedelta(
                seconds=settings.auth.access_token_ttl + MAX_LEEWAY_SECONDS
            ),
        )
        state = UsersState.assemble(
            settings,
            name="users",
            database=database,
            redis=redis,
            scripts=scripts,
            verifier=TokenVerifier.configured(keyring, settings.token),
            revocation_source=RecordedRevocations(database),
            settings=settings,
            keyring=keyring,
            passwords=passwords,
        )
        # Users owns the revocations (it rebuilds the list whenever Redis loses it) and
        # the keys (another instance, or rotate-signing-key, may add one).
        async with _in_background(state.revocations.keep(), keyring.keep()):
            yield state


@asynccontextmanager
async def _in_background(*work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run ``work`` while the block runs; cancel it at the end."""
    tasks = [asyncio.create_task(coroutine) for coroutine in work]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
