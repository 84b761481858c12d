"""A minimal service built only from servicekit's parts, for the library's own tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import SettingsConfigDict
from sqlalchemy import MetaData, bindparam, column, insert, select, table, text

from servicekit.app import create_service_app
from servicekit.auth import JwksSettings, TokenSettings
from servicekit.db import Query
from servicekit.errors import Conflict
from servicekit.http import (
    CurrentPrincipal,
    DbReader,
    DbSession,
    DbTransaction,
    IdempotentCreate,
    ServiceRouter,
    idempotency_for,
    json_response,
)
from servicekit.idempotency import idempotency_table
from servicekit.settings import (
    DatabaseSettings,
    LogSettings,
    RedisSettings,
    ServerSettings,
    ServiceSettings,
)
from servicekit.state import open_service_state
from servicekit.testing import TEST_ISSUER

__all__ = ["DemoSettings", "NoteCreate", "create_demo_app", "demo_settings"]


class DemoSettings(ServiceSettings):
    """The demo's settings, under ``DEMO_``."""

    model_config = SettingsConfigDict(env_prefix="DEMO_")

    server: ServerSettings = ServerSettings(port=8009)
    token: TokenSettings = TokenSettings(issuer=TEST_ISSUER)
    jwks: JwksSettings = JwksSettings(url="http://127.0.0.1:8009/.well-known/jwks.json")


class NoteCreate(BaseModel):
    """A note to store."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(max_length=10_000)
    fail_after_insert: bool = False


def demo_settings(
    database_url: str, redis_url: str, jwks_url: str, **overrides: object
) -> DemoSettings:
    """Settings of a demo app; ``overrides`` replace whole sections."""
    values: dict[str, object] = {
        "database": DatabaseSettings(url=database_url),
        "redis": RedisSettings(url=redis_url),
        "jwks": JwksSettings(url=jwks_url),
        "log": LogSettings(level="WARNING"),
    }
    return DemoSettings.model_validate(values | overrides)


router = ServiceRouter(tags=["demo"])


@router.post("/notes", status_code=201)
async def create_note(data: NoteCreate, session: DbSession) -> dict[str, Any]:
    """Insert a note; the unique constraint on the body is checked only at commit."""
    note_id = await session.scalar(
        text("INSERT INTO notes (body) VALUES (:body) RETURNING id"), {"body": data.body}
    )
    if data.fail_after_insert:
        raise Conflict("Failed on purpose after the insert.")
    return {"id": note_id, "body": data.body}


@router.get("/notes")
async def list_notes(session: DbSession) -> list[str]:
    """The bodies of every note."""
    return list(await session.scalars(text("SELECT body FROM notes ORDER BY id")))


_NOTES = table("notes", column("id"), column("body"))
_INSERT_NOTE = Query(insert(_NOTES).values(body=bindparam("body")).returning(_NOTES.c.id))


@router.post("/tx/notes", status_code=201)
async def create_note_in_a_transaction(
    data: NoteCreate, transaction: DbTransaction
) -> dict[str, Any]:
    """`create_note`, on the request's `Transaction` instead of the session."""
    row = await transaction.one(_INSERT_NOTE, body=data.body)
    if data.fail_after_insert:
        raise Conflict("Failed on purpose after the insert.")
    return {"id": row["id"] if row else None, "body": data.body}


IDEMPOTENCY_KEYS = idempotency_table(MetaData())
Idempotent = Annotated[IdempotentCreate, Depends(idempotency_for(IDEMPOTENCY_KEYS))]


@router.post("/idem/notes", status_code=201)
async def create_note_once(
    data: NoteCreate,
    transaction: DbTransaction,
    principal: CurrentPrincipal,
    idempotent: Idempotent,
) -> Response:
    """`create_note_in_a_transaction`, once per ``Idempotency-Key``."""

    async def create() -> Response:
        row = await transaction.one(_INSERT_NOTE, body=data.body)
        if data.fail_after_insert:
            raise Conflict("Failed on purpose after the insert.")
        return json_response({"id": row["id"] if row else None}, status_code=201)

    return await idempotent.respond(create, transaction=transaction, principal=principal)


_BODIES = Query(select(_NOTES.c.body).order_by(_NOTES.c.id))
_BODIES_LIKE = Query(
    select(_NOTES.c.body).where(_NOTES.c.body == bindparam("body")).order_by(_NOTES.c.id)
)


@router.get("/read/notes")
async def read_notes(reader: DbReader, body: str | None = None) -> list[str]:
    """The bodies of every note (or of those equal to ``body``), read in no transaction."""
    if body is None:
        return [row["body"] for row in await reader.all(_BODIES)]
    return [row["body"] for row in await reader.all(_BODIES_LIKE, body=body)]


@router.get("/whoami")
async def whoami(principal: CurrentPrincipal) -> dict[str, Any]:
    """The verified caller."""
    return {"user_id": str(principal.user_id), "role": principal.role}


@router.get("/client")
async def client_of(request: Request) -> dict[str, Any]:
    """Who the app believes the client is, and the scheme it used."""
    return {
        "address": request.client.host if request.client else None,
        "scheme": request.url.scheme,
    }


@router.get("/boom")
async def boom() -> None:
    """Fails in a way nobody handled."""
    raise RuntimeError("internal detail: password=hunter2 at db.internal:5432")


@router.get("/count")
async def count_notes(session: DbSession) -> dict[str, int]:
    """Needs the database."""
    return {"notes": int(await session.scalar(text("SELECT count(*) FROM notes")) or 0)}


def create_demo_app(settings: DemoSettings, *, routers: Sequence[APIRouter] = (router,)) -> FastAPI:
    """The demo app (with other ``routers``, to test what create_service_app accepts)."""

    return create_service_app(
        settings,
        name="demo",
        version="0.0.0",
        description="servicekit's test service",
        lifespan=lambda: open_service_state(
            settings, name="demo", token=settings.token, jwks=settings.jwks
        ),
        routers=routers,
        conflicts={"uq_notes_body": "A note with this body already exists."},
    )
