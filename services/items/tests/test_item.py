"""``/items``: the whole table of the contract that this service builds, through HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from item_factories import Caller, create_item
from pydantic import TypeAdapter
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from items.item.cursor import encode_cursor
from items.item.models import Item
from items.item.repository import PUBLIC_COLUMNS
from items.item.schemas import ItemRead
from servicekit.http import json_bytes
from servicekit.idempotency import advisory_lock_id
from servicekit.testing import TokenFactory


@pytest.fixture
def owner(token_factory: TokenFactory) -> Caller:
    return Caller(token_factory)


@pytest.fixture
def stranger(token_factory: TokenFactory) -> Caller:
    return Caller(token_factory)


@pytest.fixture
def admin(token_factory: TokenFactory) -> Caller:
    return Caller(token_factory, role="admin")


class TestCreateItem:
    async def test_creates_an_item_owned_by_the_caller(
        self, client: httpx.AsyncClient, owner: Caller, db: AsyncSession
    ) -> None:
        response = await client.post(
            "/items/", json={"name": "Lamp", "description": "Brass, 1920s"}, headers=owner.headers
        )

        assert response.status_code == 201
        body = response.json()
        assert set(body) == {
            "id",
            "name",
            "description",
            "owner_id",
            "version",
            "created_at",
            "updated_at",
        }
        assert body["name"] == "Lamp"
        assert body["description"] == "Brass, 1920s"
        assert body["owner_id"] == str(owner.id)
        assert body["version"] == 1
        assert response.headers["location"].endswith(f"/items/{body['id']}")
        assert response.headers["etag"] == '"1"'
        assert await db.get(Item, body["id"]) is not None

    async def test_description_is_optional(self, client: httpx.AsyncClient, owner: Caller) -> None:
        response = await client.post("/items/", json={"name": "Lamp"}, headers=owner.headers)

        assert response.status_code == 201
        assert response.json()["description"] is None

    @pytest.mark.parametrize(
        "body",
        [
            {"name": ""},
            {"name": "x" * 201},
            {"name": "Lamp", "description": "x" * 10_001},
            {"description": "no name"},
            {"name": None},
            {"name": 42},
            {"name": "nul\x00char"},
        ],
        ids=[
            "empty-name",
            "name-201",
            "description-10001",
            "no-name",
            "null-name",
            "number-name",
            "nul",
        ],
    )
    async def test_invalid_values_are_422(
        self, client: httpx.AsyncClient, owner: Caller, body: dict[str, object]
    ) -> None:
        response = await client.post("/items/", json=body, headers=owner.headers)

        assert response.status_code == 422
        assert response.json()["errors"]

    async def test_limits_are_inclusive(self, client: httpx.AsyncClient, owner: Caller) -> None:
        response = await client.post(
            "/items/", json={"name": "x" * 200, "description": "y" * 10_000}, headers=owner.headers
        )

        assert response.status_code == 201

    @pytest.mark.parametrize("field", ["owner_id", "id", "version", "created_at"])
    async def test_cannot_mass_assign(
        self, client: httpx.AsyncClient, owner: Caller, field: str
    ) -> None:
        value: object = {
            "owner_id": str(uuid.uuid4()),
            "id": 1,
            "version": 7,
            "created_at": "2020-01-01T00:00:00Z",
        }[field]

        response = await client.post(
            "/items/", json={"name": "Lamp", field: value}, headers=owner.headers
        )

        assert response.status_code == 422
        assert ["body", field] in [error["loc"] for error in response.json()["errors"]]

    async def test_needs_a_token(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/items/", json={"name": "Lamp"})

        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_a_token_from_another_issuer_is_401(self, client: httpx.AsyncClient) -> None:
        foreign = TokenFactory(issuer="https://elsewhere.example.com", audience="api")

        response = await client.post(
            "/items/", json={"name": "Lamp"}, headers={"Authorization": f"Bearer {foreign.issue()}"}
        )

        assert response.status_code == 401

    async def test_a_body_that_is_not_json_is_415(
        self, client: httpx.AsyncClient, owner: Caller
    ) -> None:
        response = await client.post(
            "/items/", content=b"name=Lamp", headers=owner.headers | {"content-type": "text/plain"}
        )

        assert response.status_code == 415


class TestListItems:
    async def test_lists_in_id_order_with_skip_and_limit(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        items = [await create_item(db) for _ in range(5)]

        response = await client.get("/items/", params={"skip": 1, "limit": 3})

        assert response.status_code == 200
        assert [item["id"] for item in response.json()] == [item.id for item in items[1:4]]

    async def test_reads_are_rate_limited_per_client(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/items/")

        assert response.headers["ratelimit-policy"] == '"default";q=100000;w=60'
        assert response.headers["ratelimit"].startswith('"default";r=')

    async def test_defaults_to_ten(self, client: httpx.AsyncClient, db: AsyncSession) -> None:
        for _ in range(12):
            await create_item(db)

        response = await client.get("/items/")

        assert len(response.json()) == 10

    async def test_is_public(self, client: httpx.AsyncClient, db: AsyncSession) -> None:
        await create_item(db)

        response = await client.get("/items/")

        assert response.status_code == 200

    @pytest.mark.parametrize(
        "params",
        [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"skip": -1}],
        ids=["limit-0", "limit-101", "limit-not-a-number", "negative-skip"],
    )
    async def test_out_of_range_is_422(
        self, client: httpx.AsyncClient, params: dict[str, int | str]
    ) -> None:
        response = await client.get("/items/", params=params)

        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"][0] == "query"

    async def test_a_full_page_links_to_the_next(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        items = [await create_item(db) for _ in range(5)]

        seen: list[int] = []
        url: str | None = "/items/?limit=2"
        pages = 0
        while url is not None:
            response = await client.get(url)
            assert response.status_code == 200
            seen += [item["id"] for item in response.json()]
            url = response.links.get("next", {}).get("url")
            pages += 1

        assert seen == [item.id for item in items]
        assert pages == 3  # 2 + 2 + 1: the last page is not full, so it has no Link

    async def test_the_next_link_keeps_the_filters(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        owner_id = uuid.uuid4()
        for _ in range(3):
            await create_item(db, owner_id=owner_id, name="Red chair")

        response = await client.get(
            "/items/", params={"limit": 2, "owner_id": str(owner_id), "q": "chair"}
        )

        query = parse_qs(urlsplit(response.links["next"]["url"]).query)
        assert query["owner_id"] == [str(owner_id)]
        assert query["q"] == ["chair"]
        assert query["limit"] == ["2"]
        assert "cursor" in query

    async def test_a_cursor_page_starts_after_the_cursor(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        items = [await create_item(db) for _ in range(4)]

        response = await client.get(
            "/items/", params={"limit": 10, "cursor": encode_cursor(items[1].id)}
        )

        assert [item["id"] for item in response.json()] == [item.id for item in items[2:]]
        assert "link" not in response.headers

    @pytest.mark.parametrize("cursor", ["garbage", "aTo=", "eDox", "aTotMQ", "aTrCsg", ""])
    async def test_a_bad_cursor_is_422(self, client: httpx.AsyncClient, cursor: str) -> None:
        response = await client.get("/items/", params={"cursor": cursor})

        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["query", "cursor"]

    async def test_skip_and_cursor_together_is_400(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/items/", params={"skip": 5, "cursor": encode_cursor(1)})

        assert response.status_code == 400

    async def test_filters_by_owner(self, client: httpx.AsyncClient, db: AsyncSession) -> None:
        mine = uuid.uuid4()
        expected = [await create_item(db, owner_id=mine) for _ in range(2)]
        await create_item(db)

        response = await client.get("/items/", params={"owner_id": str(mine)})

        assert [item["id"] for item in response.json()] == [item.id for item in expected]

    async def test_filters_by_a_case_insensitive_substring_of_the_name(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        lamp = await create_item(db, name="Brass LAMP")
        lampshade = await create_item(db, name="lampshade")
        await create_item(db, name="Chair")

        response = await client.get("/items/", params={"q": "Lamp"})

        assert [item["id"] for item in response.json()] == [lamp.id, lampshade.id]

    @pytest.mark.parametrize("q", ["%", "_", "\\"])
    async def test_like_wildcards_in_q_are_literal(
        self, client: httpx.AsyncClient, db: AsyncSession, q: str
    ) -> None:
        literal = await create_item(db, name=f"100{q} wool")
        await create_item(db, name="plain")

        response = await client.get("/items/", params={"q": q})

        assert [item["id"] for item in response.json()] == [literal.id]

    async def test_a_q_postgresql_cannot_search_for_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/items/", params={"q": "a\x00b"})

        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["query", "q"]

    async def test_q_matches_non_ascii_in_any_case(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        item = await create_item(db, name="ÉCOLE chair")

        response = await client.get("/items/", params={"q": "école"})

        assert [found["id"] for found in response.json()] == [item.id]


class TestGetItem:
    async def test_returns_the_item_with_its_etag(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        item = await create_item(db)

        response = await client.get(f"/items/{item.id}")

        assert response.status_code == 200
        assert response.json()["id"] == item.id
        assert response.json()["name"] == item.name
        assert response.headers["etag"] == '"1"'

    @pytest.mark.parametrize("header", ['"1"', 'W/"1"', '"7", "1"', "*"])
    async def test_if_none_match_the_current_etag_is_304(
        self, client: httpx.AsyncClient, db: AsyncSession, header: str
    ) -> None:
        item = await create_item(db)

        response = await client.get(f"/items/{item.id}", headers={"If-None-Match": header})

        assert response.status_code == 304
        assert response.headers["etag"] == '"1"'
        assert response.content == b""

    async def test_if_none_match_an_old_etag_is_200(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        item = await create_item(db, version=2)

        response = await client.get(f"/items/{item.id}", headers={"If-None-Match": '"1"'})

        assert response.status_code == 200
        assert response.headers["etag"] == '"2"'

    async def test_head_gives_the_headers_of_get(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        item = await create_item(db)

        response = await client.head(f"/items/{item.id}")

        assert response.status_code == 200
        assert response.headers["etag"] == '"1"'
        assert response.content == b""

    async def test_a_missing_item_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/items/999999999")

        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"

    @pytest.mark.parametrize("item_id", ["abc", "0", "-1", str(2**63)])
    async def test_an_impossible_id_is_422(self, client: httpx.AsyncClient, item_id: str) -> None:
        response = await client.get(f"/items/{item_id}")

        assert response.status_code == 422


class TestMethods:
    @pytest.mark.parametrize(
        ("method", "path", "allow"),
        [("DELETE", "/items/", "GET, HEAD, POST"), ("PUT", "/items/1", "DELETE, GET, HEAD, PATCH")],
    )
    async def test_a_wrong_method_is_405_naming_every_allowed_one(
        self, client: httpx.AsyncClient, method: str, path: str, allow: str
    ) -> None:
        response = await client.request(method, path, json={})

        assert response.status_code == 405
        assert response.headers["allow"] == allow


class TestUpdateItem:
    async def test_the_owner_changes_it_and_the_version_goes_up(
        self, client: httpx.AsyncClient, db: AsyncSession, owner: Caller
    ) -> None:
        item = await create_item(db, owner_id=owner.id)
        created_at = item.created_at

        response = await client.patch(
            f"/items/{item.id}", json={"name": "Renamed"}, headers=owner.headers
        )

        assert response.status_code == 200
        body = response.json()
        assert body["name"] == "Renamed"
        assert body["description"] == item.description
        assert body["version"] == 2
        assert response.headers["etag"] == '"2"'
        assert body["created_at"] == created_at.isoformat().replace("+00:00", "Z")
        assert (await client.get(f"/items/{item.id}")).json()["name"] == "Renamed"

    async def test_description_null_clears_it(
        self, client: httpx.AsyncClient, db: AsyncSession, owner: Caller
    ) -> None:
        item = await create_item(db, owner_id=owner.id)

        response = await client.patch(
            f"/items/{item.id}", json={"description": None}, headers=owner.headers
        )

        assert response.json()["description"] is None

    async def test_an_empty_patch_changes_nothing(
        self, client: httpx.AsyncClient, db: AsyncSession, owner: Caller
    ) -> None:
        item = await create_item(db, owner_id=owner.id)

        response = await client.patch(f"/items/{item.id}", json={}, headers=owner.headers)

        assert response.status_code == 200
        assert response.json()["version"] == 1

    async def test_an_admin_may_change_anyones_item(
        self, client: httpx.AsyncClient, db: AsyncSession, admin: Caller
    ) -> None:
        item = await create_item(db)

        response = await client.patch(
            f"/items/{item.id}", json={"name": "Moderated"}, headers=admin.headers
        )

        assert response.status_code == 200
        assert response.json()["owner_id"] == str(item.owner_id)

    async def test_someone_elses_item_is_403(
        self, client: httpx.AsyncClient, db: AsyncSession, stranger: Caller
    ) -> None:
        item = await create_item(db)

        response = await client.patch(
            f"/items/{item.id}", json={"name": "Mine now"}, headers=stranger.headers
        )

        assert response.status_code == 403
        assert (await db.scalar(select(Item.name).where(Item.id == item.id))) == item.name

    async def test_a_missing_item_is_404(self, client: httpx.AsyncClient, owner: Caller) -> None:
        response = await client.patch("/items/999999999", json={"name": "x"}, headers=owner.headers)

        assert response.status_code == 404

    async def test_needs_a_token(self, client: httpx.AsyncClient, db: AsyncSession) -> None:
        item = await create_item(db)

        response = await client.patch(f"/items/{item.id}", json={"name": "x"})

        assert response.status_code == 401

    async def test_if_match_the_current_etag_applies(
        self, client: httpx.AsyncClient, db: AsyncSession, owner: Caller
    ) -> None:
        item = await create_item(db, owner_id=owner.id)
        etag = (await client.get(f"/items/{item.id}")).headers["etag"]

        response = await client.patch(
            f"/items/{item.id}", json={"name": "x"}, headers=owner.headers | {"If-Match": etag}
        )

        assert response.status_code == 200

    async def test_if_match_a_stale_etag_is_412_and_changes_nothing(
        self, client: httpx.AsyncClient, db: AsyncSession, owner: Caller
    ) -> None:
        item = await create_item(db, owner_id=owner.id)
        stale = (await client.get(f"/items/{item.id}")).headers["etag"]
        await client.patch(f"/items/{item.id}", json={"name": "First"}, headers=owner.headers)

        response = await client.patch(
            f"/items/{item.id}",
            json={"name": "Second"},
            headers=owner.headers | {"If-Match": stale},
        )

        assert response.status_code == 412
        assert response.json()["title"] == "Precondition Failed"
        assert (await client.get(f"/items/{item.id}")).json()["name"] == "First"

    async def test_a_weak_etag_never_matches_if_match(
        self, client: httpx.AsyncClient, db: AsyncSession, owner: Caller
    ) -> None:
        item = await create_item(db, owner_id=owner.id)

        response = await client.patch(
            f"/items/{item.id}", json={"name": "x"}, headers=owner.headers | {"If-Match": 'W/"1"'}
        )

        assert response.status_code == 412

    @pytest.mark.parametrize(
        "body",
        [{"version": 5}, {"owner_id": str(uuid.uuid4())}, {"id": 3}, {"name": None}, {"name": ""}],
        ids=["version", "owner_id", "id", "null-name", "empty-name"],
    )
    async def test_invalid_changes_are_422(
        self, client: httpx.AsyncClient, db: AsyncSession, owner: Caller, body: dict[str, object]
    ) -> None:
        item = await create_item(db, owner_id=owner.id)

        response = await client.patch(f"/items/{item.id}", json=body, headers=owner.headers)

        assert response.status_code == 422


class TestDeleteItem:
    async def test_the_owner_deletes_it(
        self, client: httpx.AsyncClient, db: AsyncSession, owner: Caller
    ) -> None:
        item = await create_item(db, owner_id=owner.id)

        response = await client.delete(f"/items/{item.id}", headers=owner.headers)

        assert response.status_code == 204
        assert response.content == b""
        assert (await client.get(f"/items/{item.id}")).status_code == 404

    async def test_an_admin_deletes_anyones(
        self, client: httpx.AsyncClient, db: AsyncSession, admin: Caller
    ) -> None:
        item = await create_item(db)

        response = await client.delete(f"/items/{item.id}", headers=admin.headers)

        assert response.status_code == 204

    async def test_someone_elses_item_is_403(
        self, client: httpx.AsyncClient, db: AsyncSession, stranger: Caller
    ) -> None:
        item = await create_item(db)

        response = await client.delete(f"/items/{item.id}", headers=stranger.headers)

        assert response.status_code == 403
        assert (await client.get(f"/items/{item.id}")).status_code == 200

    async def test_a_missing_item_is_404(self, client: httpx.AsyncClient, owner: Caller) -> None:
        response = await client.delete("/items/999999999", headers=owner.headers)

        assert response.status_code == 404

    async def test_needs_a_token(self, client: httpx.AsyncClient, db: AsyncSession) -> None:
        item = await create_item(db)

        response = await client.delete(f"/items/{item.id}")

        assert response.status_code == 401

    async def test_if_match_a_stale_etag_is_412(
        self, client: httpx.AsyncClient, db: AsyncSession, owner: Caller
    ) -> None:
        item = await create_item(db, owner_id=owner.id, version=3)

        response = await client.delete(
            f"/items/{item.id}", headers=owner.headers | {"If-Match": '"2"'}
        )

        assert response.status_code == 412


class TestIdempotencyKey:
    async def test_a_retry_gets_the_first_response_and_creates_nothing(
        self, client: httpx.AsyncClient, owner: Caller, db: AsyncSession
    ) -> None:
        headers = {**owner.headers, "Idempotency-Key": "order-7f3a"}
        body = {"name": "Lamp", "description": "Brass"}

        first = await client.post("/items/", json=body, headers=headers)
        retry = await client.post("/items/", json=body, headers=headers)

        assert first.status_code == retry.status_code == 201
        assert retry.json() == first.json()
        assert retry.headers["location"] == first.headers["location"]
        assert retry.headers["etag"] == first.headers["etag"]
        assert retry.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        owned = await db.scalars(select(Item).where(Item.owner_id == owner.id))
        assert len(owned.all()) == 1

    async def test_the_same_key_with_another_body_is_422(
        self, client: httpx.AsyncClient, owner: Caller
    ) -> None:
        headers = {**owner.headers, "Idempotency-Key": "order-7f3b"}
        await client.post("/items/", json={"name": "Lamp"}, headers=headers)

        other = await client.post("/items/", json={"name": "Chair"}, headers=headers)

        assert other.status_code == 422
        assert other.headers["content-type"] == "application/problem+json"

    @pytest.mark.parametrize("key", ["", "k" * 256])
    async def test_an_empty_or_overlong_key_is_400(
        self, client: httpx.AsyncClient, owner: Caller, key: str
    ) -> None:
        response = await client.post(
            "/items/", json={"name": "Lamp"}, headers={**owner.headers, "Idempotency-Key": key}
        )

        assert response.status_code == 400

    async def test_keys_are_per_principal(
        self, client: httpx.AsyncClient, owner: Caller, stranger: Caller
    ) -> None:
        body = {"name": "Lamp"}
        mine = await client.post(
            "/items/", json=body, headers={**owner.headers, "Idempotency-Key": "same"}
        )
        theirs = await client.post(
            "/items/", json=body, headers={**stranger.headers, "Idempotency-Key": "same"}
        )

        assert mine.json()["id"] != theirs.json()["id"]
        assert "idempotent-replayed" not in theirs.headers

    async def test_a_refused_request_is_not_remembered(
        self, client: httpx.AsyncClient, owner: Caller
    ) -> None:
        headers = {**owner.headers, "Idempotency-Key": "order-7f3c"}
        invalid = await client.post("/items/", json={"name": ""}, headers=headers)
        anonymous = await client.post(
            "/items/", json={"name": "Lamp"}, headers={"Idempotency-Key": "order-7f3c"}
        )

        valid = await client.post("/items/", json={"name": "Lamp"}, headers=headers)

        assert (invalid.status_code, anonymous.status_code) == (422, 401)
        assert valid.status_code == 201
        assert "idempotent-replayed" not in valid.headers

    async def test_a_retry_while_the_first_is_running_is_409(
        self, client: httpx.AsyncClient, owner: Caller, database_url: str
    ) -> None:
        # The first request still running holds its key's lock: here, another session does.
        lock = advisory_lock_id(str(owner.id), "order-7f3d")
        connection = await asyncpg.connect(_plain(database_url))
        try:
            await connection.execute("SELECT pg_advisory_lock($1)", lock)
            response = await client.post(
                "/items/",
                json={"name": "Lamp"},
                headers={**owner.headers, "Idempotency-Key": "order-7f3d"},
            )
        finally:
            await connection.close()

        assert response.status_code == 409


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class TestCache:
    """GET /items/{id} from Redis: the same bytes, and never an old version after a write."""

    async def test_a_second_read_is_served_from_the_cache_with_the_same_bytes(
        self, client: httpx.AsyncClient, owner: Caller
    ) -> None:
        item = await _create(client, owner)
        before = await _count(client, "cache_hits_total")

        first = await client.get(f"/items/{item['id']}")
        second = await client.get(f"/items/{item['id']}")
        revalidated = await client.get(f"/items/{item['id']}", headers={"If-None-Match": '"1"'})

        assert first.content == second.content
        assert first.headers["etag"] == second.headers["etag"] == '"1"'
        assert second.headers["content-type"] == "application/json"
        assert revalidated.status_code == 304
        assert await _count(client, "cache_hits_total") - before == 2

    async def test_a_hit_is_a_whole_service_response(
        self, client: httpx.AsyncClient, owner: Caller
    ) -> None:
        item = await _create(client, owner)
        await client.get(f"/items/{item['id']}")
        before = await _count(
            client, 'http_requests_total{method="GET",route="/items/{item_id}",status="200"}'
        )

        hit = await client.get(f"/items/{item['id']}", headers={"X-Request-ID": "hit-1"})
        head = await client.head(f"/items/{item['id']}")

        assert hit.headers["x-request-id"] == "hit-1"
        assert hit.headers["server-timing"].startswith("app;dur=")
        assert hit.headers["x-content-type-options"] == "nosniff"
        assert hit.headers["ratelimit"].startswith('"default";r=')
        assert hit.headers["content-length"] == str(len(hit.content))
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["etag"] == '"1"'
        after = await _count(
            client, 'http_requests_total{method="GET",route="/items/{item_id}",status="200"}'
        )
        assert after - before == 1

    async def test_the_rate_limit_and_the_cache_read_share_one_round_trip(
        self, client: httpx.AsyncClient, owner: Caller, token_factory: TokenFactory
    ) -> None:
        item = await _create(client, owner)
        await client.get(f"/items/{item['id']}")
        newcomer = Caller(token_factory)  # a client with no lease yet: its limit asks Redis
        before = await _count(client, "redis_script_batches_total")

        hit = await client.get(f"/items/{item['id']}", headers=newcomer.headers)

        assert hit.status_code == 200
        assert hit.headers["ratelimit"] == '"default";r=99999;t=1'
        # The limit's script and the cache read: one pipeline (the metrics read adds none).
        assert await _count(client, "redis_script_batches_total") - before == 1

    async def test_an_id_in_another_form_is_never_a_cache_key(
        self, client: httpx.AsyncClient, owner: Caller, redis: Redis
    ) -> None:
        item = await _create(client, owner)

        padded = await client.get(f"/items/0{item['id']}")
        canonical = await client.get(f"/items/{item['id']}")

        assert padded.json() == canonical.json()
        keys = [k if isinstance(k, str) else k.decode() for k in await redis.keys("items:cache:*")]
        assert keys
        assert not any(key.endswith((f":0{item['id']}", f":0{item['id']}:lock")) for key in keys)

    async def test_after_a_change_the_new_version_is_served(
        self, client: httpx.AsyncClient, owner: Caller
    ) -> None:
        item = await _create(client, owner)
        await client.get(f"/items/{item['id']}")

        await client.patch(f"/items/{item['id']}", json={"name": "Renamed"}, headers=owner.headers)
        after = await client.get(f"/items/{item['id']}")

        assert after.json()["name"] == "Renamed"
        assert after.headers["etag"] == '"2"'

    async def test_after_a_delete_it_is_gone(
        self, client: httpx.AsyncClient, owner: Caller
    ) -> None:
        item = await _create(client, owner)
        await client.get(f"/items/{item['id']}")

        await client.delete(f"/items/{item['id']}", headers=owner.headers)

        assert (await client.get(f"/items/{item['id']}")).status_code == 404

    async def test_a_cached_404_does_not_hide_the_item_created_next(
        self, client: httpx.AsyncClient, owner: Caller
    ) -> None:
        first = await _create(client, owner)
        missing = await client.get(f"/items/{first['id'] + 1}")

        second = await _create(client, owner)
        found = await client.get(f"/items/{second['id']}")

        assert missing.status_code == 404
        assert second["id"] == first["id"] + 1
        assert found.status_code == 200

    async def test_a_failed_write_leaves_the_cached_version_valid(
        self, client: httpx.AsyncClient, owner: Caller, stranger: Caller
    ) -> None:
        item = await _create(client, owner)
        await client.get(f"/items/{item['id']}")

        refused = await client.patch(
            f"/items/{item['id']}", json={"name": "Hijacked"}, headers=stranger.headers
        )
        after = await client.get(f"/items/{item['id']}")

        assert refused.status_code == 403
        assert after.json()["name"] == item["name"]


async def _create(client: httpx.AsyncClient, owner: Caller) -> dict[str, Any]:
    response = await client.post("/items/", json={"name": "Cached lamp"}, headers=owner.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _count(client: httpx.AsyncClient, metric: str) -> float:
    text = (await client.get("/metrics")).text
    line = next(line for line in text.splitlines() if line.startswith(metric + " "))
    return float(line.split()[1])


def test_reads_select_exactly_what_clients_see() -> None:
    """Hot reads send rows as they come: their columns are `ItemRead`'s fields, in order."""
    assert [column.name for column in PUBLIC_COLUMNS] == list(ItemRead.model_fields)


@pytest.mark.parametrize("microsecond", [0, 1, 999_999])
@pytest.mark.parametrize("name", ["Lamp", 'Ünïcode \u2028 "quoted" \\ <b>'])
def test_rows_render_to_the_bytes_itemread_would(microsecond: int, name: str) -> None:
    """Hot paths send orjson bytes of rows instead of serialising `ItemRead`: the same bytes."""
    moment = datetime(2026, 12, 2, 3, 52, 19, microsecond, tzinfo=UTC)
    row = {
        "id": 2**40,
        "name": name,
        "description": None,
        "owner_id": uuid.uuid4(),
        "version": 2**31,
        "created_at": moment,
        "updated_at": moment,
    }

    assert json_bytes(row) == TypeAdapter(ItemRead).dump_json(ItemRead.model_validate(row))
