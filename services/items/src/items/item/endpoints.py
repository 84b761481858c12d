"""``/items``: the catalogue. Reads are public; writes need the owner or an admin."""

from __future__ import annotations

import uuid
from typing import Annotated, Final

from fastapi import Header, Path, Query, Request, Response

from items.item import service
from items.item.cursor import Cursor, encode_cursor
from items.item.deps import Idempotent
from items.item.etag import etag
from items.item.repository import ItemFilter
from items.item.schemas import ItemCreate, ItemRead, ItemUpdate
from servicekit.cache import CachedResponse, ResponseCache, representation
from servicekit.db import Reader, Transaction
from servicekit.errors import BadRequest, NotFound
from servicekit.http import (
    Cache,
    CachedRoute,
    CurrentPrincipal,
    DbReader,
    DbTransaction,
    ServiceRouter,
    if_none_match_matches,
    json_bytes,
    json_response,
    problem_responses,
    url_of,
)
from servicekit.types import StorableStr

__all__ = ["CACHED_ITEM", "router"]

router = ServiceRouter(tags=["items"])

ItemId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The item's id.")]
_ITEM: Final = "/items/{item_id}"
"""The path of one item, which ``Location`` names."""
_CACHED: Final = f"item:{representation(ItemRead)}"
"""The cache's kind for one item's response: a new representation, a new kind."""
IfMatch = Annotated[
    str | None,
    Header(description="Change only if the item is still at this ETag (else 412)."),
]


@router.post(
    "/items/",
    status_code=201,
    response_model=ItemRead,
    summary="Create an item",
    responses=problem_responses(400, 401, 409, 422),
)
async def create_item(
    data: ItemCreate,
    transaction: DbTransaction,
    principal: CurrentPrincipal,
    cache: Cache,
    idempotent: Idempotent,
    request: Request,
) -> Response:
    """Create an item owned by the caller. With an `Idempotency-Key`, a retry of the same
    request gets the first response back (`Idempotent-Replayed: true`), the same key
    with another body is a 422, and one while the first is still running a 409."""

    async def create() -> Response:
        item = await service.create_item(transaction, principal, data)
        _forget_after_commit(transaction, cache, item["id"])  # a 404 of it may be cached
        headers = {
            "Location": url_of(request, _ITEM, item_id=item["id"]),
            "ETag": etag(item["version"]),
        }
        return json_response(dict(item), status_code=201, headers=headers)

    return await idempotent.respond(create, transaction=transaction, principal=principal)


@router.get(
    "/items/",
    response_model=list[ItemRead],
    summary="List items",
    responses={
        200: {"description": 'A page of items; `Link: <…>; rel="next"` when the page is full.'},
        **problem_responses(400),
    },
)
async def list_items(
    reader: DbReader,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 10,
    skip: Annotated[
        int, Query(ge=0, le=2**31 - 1, description="Items to skip (offset paging).")
    ] = 0,
    cursor: Annotated[
        Cursor | None, Query(description="Where the page starts (keyset paging).")
    ] = None,
    owner_id: Annotated[uuid.UUID | None, Query(description="Only this owner's items.")] = None,
    q: Annotated[
        StorableStr | None,
        Query(min_length=1, max_length=200, description="Name contains this (any case)."),
    ] = None,
) -> Response:
    """Items in id order. Page with `skip`, or better with the `cursor` of the `Link` header,
    whose cost does not grow with the depth of the page."""
    if cursor is not None and skip:
        raise BadRequest("Page with either `skip` or `cursor`, not both.")
    where = ItemFilter(owner_id=owner_id, name_contains=q)
    items = await service.list_items(reader, where, limit=limit, offset=skip, after_id=cursor)
    headers = {}
    if len(items) == limit:
        next_url = request.url.remove_query_params("skip").include_query_params(
            limit=limit, cursor=encode_cursor(items[-1]["id"])
        )
        headers["Link"] = f'<{next_url}>; rel="next"'
    return json_response([dict(item) for item in items], headers=headers)


@router.get(
    _ITEM,
    response_model=ItemRead,
    summary="Get an item",
    responses={
        304: {"description": "Your copy (`If-None-Match`) is current."},
        **problem_responses(404),
    },
)
async def get_item(
    item_id: ItemId,
    reader: DbReader,
    cache: Cache,
    if_none_match: Annotated[str | None, Header(description="ETags of copies you hold.")] = None,
) -> Response:
    """The item, with its `ETag`; 304 if `If-None-Match` names the current one."""
    cached = await cache.get(_CACHED, str(item_id), lambda: _load(reader, item_id))
    if cached is None:
        raise NotFound(f"No item {item_id}.")
    tag = cached.etag.decode()
    if if_none_match_matches(if_none_match, tag):
        return Response(status_code=304, headers={"ETag": tag})
    return Response(cached.body, media_type="application/json", headers={"ETag": tag})


async def _load(reader: Reader, item_id: int) -> CachedResponse | None:
    """The response of item ``item_id`` as the cache keeps it; None if there is none."""
    try:
        item = await service.get_item(reader, item_id)
    except NotFound:
        return None
    return CachedResponse(etag(item["version"]).encode(), json_bytes(dict(item)))


async def _load_key(reader: Reader, key: str) -> CachedResponse | None:
    return await _load(reader, int(key))


CACHED_ITEM: Final = CachedRoute(_ITEM, kind=_CACHED, key=r"[1-9][0-9]{0,18}", load=_load_key)
"""``GET /items/{item_id}``: public, so it is answered before routing, from the cache or
(on a miss) from the database; only a 404 reaches the endpoint."""


def _forget_after_commit(transaction: Transaction, cache: ResponseCache, item_id: int) -> None:
    transaction.after_commit(lambda: cache.invalidate(_CACHED, str(item_id)))


@router.patch(
    _ITEM,
    response_model=ItemRead,
    summary="Change an item",
    responses=problem_responses(401, 403, 404, 412),
)
async def update_item(
    item_id: ItemId,
    data: ItemUpdate,
    transaction: DbTransaction,
    principal: CurrentPrincipal,
    cache: Cache,
    if_match: IfMatch = None,
) -> Response:
    """Change the fields sent (owner or admin); `version` goes up by one."""
    item = await service.update_item(transaction, principal, item_id, data, if_match=if_match)
    _forget_after_commit(transaction, cache, item_id)
    return json_response(dict(item), headers={"ETag": etag(item["version"])})


@router.delete(
    _ITEM,
    status_code=204,
    summary="Delete an item",
    responses=problem_responses(401, 403, 404, 412),
)
async def delete_item(
    item_id: ItemId,
    transaction: DbTransaction,
    principal: CurrentPrincipal,
    cache: Cache,
    if_match: IfMatch = None,
) -> Response:
    """Delete the item (owner or admin)."""
    await service.delete_item(transaction, principal, item_id, if_match=if_match)
    _forget_after_commit(transaction, cache, item_id)
    return Response(status_code=204)
