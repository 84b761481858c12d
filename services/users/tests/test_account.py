"""``/users``: registration and the user resource, through HTTP."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from user_factories import PASSWORD, auth, create_user, log_in, register, unique_email

from users.account.models import User
from users.signing_key.keyring import Keyring


class TestCreateUser:
    async def test_creates_the_user_and_says_where_it_is(self, client: httpx.AsyncClient) -> None:
        email = unique_email()
        response = await client.post(
            "/users/", json={"email": email, "password": PASSWORD, "full_name": "Ada Lovelace"}
        )

        assert response.status_code == 201
        body = response.json()
        assert set(body) == {"id", "email", "full_name", "role", "is_active", "created_at"}
        assert body["email"] == email
        assert body["full_name"] == "Ada Lovelace"
        assert body["role"] == "user"
        assert body["is_active"] is True
        assert response.headers["location"].endswith(f"/users/{body['id']}")

    async def test_stores_only_an_argon2id_hash(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        created = await register(client)

        user = await db.scalar(select(User).where(User.id == uuid.UUID(created["id"])))

        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash

    async def test_full_name_is_optional(self, client: httpx.AsyncClient) -> None:
        created = await register(client)

        assert created["full_name"] is None

    async def test_accepts_any_unicode_password_of_eight_characters(
        self, client: httpx.AsyncClient
    ) -> None:
        email = unique_email()
        password = "пароль🔑ä"  # 8 characters, several bytes each

        response = await client.post("/users/", json={"email": email, "password": password})

        assert response.status_code == 201
        await log_in(client, email, password)

    async def test_email_taken_in_another_case_is_409(self, client: httpx.AsyncClient) -> None:
        first = await register(client)

        response = await client.post(
            "/users/", json={"email": first["email"].upper(), "password": PASSWORD}
        )

        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == 409
        assert problem["title"] == "Conflict"
        assert "e-mail" in problem["detail"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"email": "not-an-email", "password": PASSWORD}, "email"),
            ({"email": "a@example.com", "password": "short7!"}, "password"),
            ({"email": "a@example.com", "password": "x" * 129}, "password"),
            ({"email": "a@example.com", "password": "password123"}, "password"),
            ({"email": "a@example.com", "password": "Sunshine"}, "password"),
            ({"email": "a@example.com"}, "password"),
            ({"password": PASSWORD}, "email"),
            ({"email": "a@example.com", "password": PASSWORD, "full_name": "x" * 201}, "full_name"),
            ({"email": "a@example.com", "password": PASSWORD, "full_name": "Ada\x00"}, "full_name"),
            ({"email": "a\x00@example.com", "password": PASSWORD}, "email"),
        ],
        ids=[
            "invalid-email",
            "password-7-chars",
            "password-129-chars",
            "common-password",
            "common-password-any-case",
            "no-password",
            "no-email",
            "full-name-too-long",
            "nul-in-full-name",
            "nul-in-email",
        ],
    )
    async def test_invalid_values_are_422(
        self, client: httpx.AsyncClient, body: dict[str, str], field: str
    ) -> None:
        response = await client.post("/users/", json=body)

        assert response.status_code == 422
        problem = response.json()
        assert problem["status"] == 422
        assert ["body", field] in [error["loc"] for error in problem["errors"]]
        assert all(set(error) == {"loc", "msg", "type"} for error in problem["errors"])

    @pytest.mark.parametrize("field", ["role", "is_active", "id"])
    async def test_cannot_mass_assign(self, client: httpx.AsyncClient, field: str) -> None:
        value: object = {"role": "admin", "is_active": False, "id": str(uuid.uuid4())}[field]
        body = {"email": unique_email(), "password": PASSWORD, field: value}

        response = await client.post("/users/", json=body)

        assert response.status_code == 422
        assert ["body", field] in [error["loc"] for error in response.json()["errors"]]

    async def test_a_password_never_appears_in_an_error(self, client: httpx.AsyncClient) -> None:
        secret = "password123"  # refused as common

        response = await client.post("/users/", json={"email": "bad", "password": secret})

        assert response.status_code == 422
        assert secret not in response.text

    async def test_malformed_json_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/users/", content=b'{"email": ', headers={"content-type": "application/json"}
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["type"] == "json_invalid"

    @pytest.mark.parametrize(
        "content_type", ["text/plain", "application/x-www-form-urlencoded", None]
    )
    async def test_a_body_that_is_not_json_is_415(
        self, client: httpx.AsyncClient, content_type: str | None
    ) -> None:
        headers = {"content-type": content_type} if content_type else {}

        response = await client.post(
            "/users/", content=b'{"email": "a@example.com"}', headers=headers
        )

        assert response.status_code == 415
        assert response.json()["title"] == "Unsupported Media Type"


class TestGetMe:
    async def test_returns_the_callers_account(self, client: httpx.AsyncClient) -> None:
        created = await register(client, full_name="Grace Hopper")
        tokens = await log_in(client, created["email"])

        response = await client.get("/users/me", headers=auth(tokens["access_token"]))

        assert response.status_code == 200
        assert response.json() == created
        assert response.headers["cache-control"] == "no-store"

    async def test_without_a_token_is_401_with_a_bearer_challenge(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/users/me")

        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"] == "application/problem+json"

    @pytest.mark.parametrize(
        "authorization",
        ["Bearer", "Bearer not.a.jwt", "Basic dXNlcjpwYXNz", "Bearer " + "a" * 40],
    )
    async def test_a_malformed_token_is_401(
        self, client: httpx.AsyncClient, authorization: str
    ) -> None:
        response = await client.get("/users/me", headers={"Authorization": authorization})

        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")

    async def test_an_expired_token_is_401(
        self, client: httpx.AsyncClient, keyring: Keyring
    ) -> None:
        created = await register(client)
        tokens = await log_in(client, created["email"])
        claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        now = int(time.time())
        expired = keyring.sign(claims | {"iat": now - 3600, "exp": now - 120})

        response = await client.get("/users/me", headers=auth(expired))

        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
        assert "expired" in response.json()["detail"]

    async def test_a_token_of_a_deleted_account_is_401(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        user = await create_user(db)
        tokens = await log_in(client, user.email)
        await db.delete(user)
        await db.flush()

        response = await client.get("/users/me", headers=auth(tokens["access_token"]))

        assert response.status_code == 401


class TestGetUser:
    async def test_a_user_sees_themselves(self, client: httpx.AsyncClient) -> None:
        created = await register(client)
        tokens = await log_in(client, created["email"])

        response = await client.get(f"/users/{created['id']}", headers=auth(tokens["access_token"]))

        assert response.status_code == 200
        assert response.json() == created

    async def test_anyone_elses_id_is_404_like_a_missing_one(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        other = await create_user(db)
        caller = await create_user(db)
        token = (await log_in(client, caller.email))["access_token"]

        someone_else = await client.get(f"/users/{other.id}", headers=auth(token))
        nobody = await client.get(f"/users/{uuid.uuid4()}", headers=auth(token))

        assert someone_else.status_code == nobody.status_code == 404
        assert someone_else.json()["detail"] == nobody.json()["detail"]

    async def test_an_admin_sees_anyone(self, client: httpx.AsyncClient, db: AsyncSession) -> None:
        other = await create_user(db)
        admin = await create_user(db, role="admin")
        token = (await log_in(client, admin.email))["access_token"]

        response = await client.get(f"/users/{other.id}", headers=auth(token))

        assert response.status_code == 200
        assert response.json()["email"] == other.email

    async def test_needs_a_token(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"/users/{uuid.uuid4()}")

        assert response.status_code == 401

    async def test_served_again_from_the_cache_with_its_etag(
        self, client: httpx.AsyncClient
    ) -> None:
        created = await register(client)
        headers = auth((await log_in(client, created["email"]))["access_token"])

        first = await client.get(f"/users/{created['id']}", headers=headers)
        second = await client.get(f"/users/{created['id']}", headers=headers)
        current = await client.get(
            f"/users/{created['id']}", headers={**headers, "If-None-Match": first.headers["etag"]}
        )
        metrics = (await client.get("/metrics")).text

        assert first.content == second.content
        assert first.json() == created
        assert first.headers["etag"] == second.headers["etag"]
        assert current.status_code == 304
        assert "cache_hits_total" in metrics

    async def test_a_cached_user_is_still_hidden_from_others(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        other = await create_user(db)
        admin = await create_user(db, role="admin")
        caller = await create_user(db)
        await client.get(
            f"/users/{other.id}",
            headers=auth((await log_in(client, admin.email))["access_token"]),
        )

        response = await client.get(
            f"/users/{other.id}",
            headers=auth((await log_in(client, caller.email))["access_token"]),
        )

        assert response.status_code == 404

    async def test_an_id_that_is_not_a_uuid_is_422(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        user = await create_user(db)
        token = (await log_in(client, user.email))["access_token"]

        response = await client.get("/users/42", headers=auth(token))

        assert response.status_code == 422


NEW_PASSWORD = "another long and uncommon passphrase"


class TestUpdateMe:
    async def test_changes_the_full_name(self, client: httpx.AsyncClient) -> None:
        created = await register(client, full_name="Ada")
        headers = auth((await log_in(client, created["email"]))["access_token"])
        await client.get(f"/users/{created['id']}", headers=headers)  # cached now

        response = await client.patch(
            "/users/me", json={"full_name": "Ada Lovelace"}, headers=headers
        )

        assert response.status_code == 200
        assert response.json() == created | {"full_name": "Ada Lovelace"}
        again = await client.get(f"/users/{created['id']}", headers=headers)
        assert again.json()["full_name"] == "Ada Lovelace"

    async def test_null_clears_the_full_name_and_nothing_else_changes(
        self, client: httpx.AsyncClient
    ) -> None:
        created = await register(client, full_name="Ada")
        headers = auth((await log_in(client, created["email"]))["access_token"])

        cleared = await client.patch("/users/me", json={"full_name": None}, headers=headers)
        untouched = await client.patch("/users/me", json={}, headers=headers)

        assert cleared.json()["full_name"] is None
        assert untouched.json() == cleared.json()

    async def test_a_password_change_ends_every_other_session(
        self, client: httpx.AsyncClient
    ) -> None:
        created = await register(client)
        here = await log_in(client, created["email"])
        elsewhere = await log_in(client, created["email"])

        response = await client.patch(
            "/users/me",
            json={"password": NEW_PASSWORD, "current_password": PASSWORD},
            headers=auth(here["access_token"]),
        )

        assert response.status_code == 200
        assert (await client.get("/users/me", headers=auth(here["access_token"]))).is_success
        gone = await client.get("/users/me", headers=auth(elsewhere["access_token"]))
        assert gone.status_code == 401
        refreshed = await client.post(
            "/auth/refresh", json={"refresh_token": elsewhere["refresh_token"]}
        )
        assert refreshed.status_code == 401
        await log_in(client, created["email"], NEW_PASSWORD)
        old = await client.post(
            "/auth/token", data={"username": created["email"], "password": PASSWORD}
        )
        assert old.status_code == 401

    async def test_a_wrong_current_password_is_403_and_changes_nothing(
        self, client: httpx.AsyncClient
    ) -> None:
        created = await register(client)
        tokens = await log_in(client, created["email"])

        response = await client.patch(
            "/users/me",
            json={"password": NEW_PASSWORD, "current_password": "not the password"},
            headers=auth(tokens["access_token"]),
        )

        assert response.status_code == 403
        assert response.json()["type"] == "/problems/forbidden"
        await log_in(client, created["email"], PASSWORD)

    async def test_a_new_password_without_the_current_one_is_422(
        self, client: httpx.AsyncClient
    ) -> None:
        created = await register(client)
        tokens = await log_in(client, created["email"])

        response = await client.patch(
            "/users/me", json={"password": NEW_PASSWORD}, headers=auth(tokens["access_token"])
        )

        assert response.status_code == 422
        assert "current_password" in response.text
        assert NEW_PASSWORD not in response.text

    @pytest.mark.parametrize(
        "body",
        [
            {"password": "short", "current_password": PASSWORD},
            {"password": "password123", "current_password": PASSWORD},
            {"email": "new@example.com"},
            {"role": "admin"},
            {"is_active": False},
            {"full_name": "x" * 201},
        ],
        ids=["too-short", "too-common", "email", "role", "is_active", "name-too-long"],
    )
    async def test_invalid_or_forbidden_changes_are_422(
        self, client: httpx.AsyncClient, body: dict[str, object]
    ) -> None:
        created = await register(client)
        tokens = await log_in(client, created["email"])

        response = await client.patch("/users/me", json=body, headers=auth(tokens["access_token"]))

        assert response.status_code == 422

    async def test_needs_a_token(self, client: httpx.AsyncClient) -> None:
        assert (await client.patch("/users/me", json={"full_name": "x"})).status_code == 401


class TestDeleteMe:
    async def test_the_account_is_gone_and_no_token_of_it_works(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        created = await register(client)
        here = await log_in(client, created["email"])
        elsewhere = await log_in(client, created["email"])
        admin = await create_user(db, role="admin")
        admin_headers = auth((await log_in(client, admin.email))["access_token"])
        await client.get(f"/users/{created['id']}", headers=admin_headers)  # cached now

        response = await client.delete("/users/me", headers=auth(here["access_token"]))

        assert response.status_code == 204
        for tokens in (here, elsewhere):
            me = await client.get("/users/me", headers=auth(tokens["access_token"]))
            assert me.status_code == 401
            refreshed = await client.post(
                "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
            )
            assert refreshed.status_code == 401
        login = await client.post(
            "/auth/token", data={"username": created["email"], "password": PASSWORD}
        )
        assert login.status_code == 401
        assert (
            await client.get(f"/users/{created['id']}", headers=admin_headers)
        ).status_code == 404
        assert await db.get(User, uuid.UUID(created["id"])) is None

    async def test_the_email_can_register_again(self, client: httpx.AsyncClient) -> None:
        created = await register(client)
        tokens = await log_in(client, created["email"])
        await client.delete("/users/me", headers=auth(tokens["access_token"]))

        again = await client.post("/users/", json={"email": created["email"], "password": PASSWORD})

        assert again.status_code == 201
        assert again.json()["id"] != created["id"]

    async def test_needs_a_token(self, client: httpx.AsyncClient) -> None:
        assert (await client.delete("/users/me")).status_code == 401


class TestListUsers:
    async def test_an_admin_pages_through_every_account(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        admin = await create_user(db, role="admin")
        others = [await create_user(db) for _ in range(3)]
        headers = auth((await log_in(client, admin.email))["access_token"])
        everyone = (await client.get("/users/?limit=100", headers=headers)).json()

        first = await client.get("/users/?skip=0&limit=2", headers=headers)
        second = await client.get("/users/?skip=2&limit=2", headers=headers)

        assert first.status_code == 200
        assert [u["id"] for u in first.json() + second.json()] == [u["id"] for u in everyone[:4]]
        listed = {u["id"] for u in everyone}
        assert {str(u.id) for u in [admin, *others]} <= listed
        assert set(everyone[0]) == {"id", "email", "full_name", "role", "is_active", "created_at"}

    async def test_a_user_who_is_not_an_admin_is_403(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        user = await create_user(db)
        headers = auth((await log_in(client, user.email))["access_token"])

        response = await client.get("/users/", headers=headers)

        assert response.status_code == 403

    async def test_needs_a_token(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/users/")).status_code == 401

    @pytest.mark.parametrize("query", ["limit=0", "limit=101", "skip=-1", "limit=x"])
    async def test_out_of_range_is_422(
        self, client: httpx.AsyncClient, db: AsyncSession, query: str
    ) -> None:
        admin = await create_user(db, role="admin")
        headers = auth((await log_in(client, admin.email))["access_token"])

        assert (await client.get(f"/users/?{query}", headers=headers)).status_code == 422
