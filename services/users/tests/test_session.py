"""Sessions through HTTP: refresh rotation and reuse detection, logout, the session list."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from user_factories import PASSWORD, auth, create_user, log_in, register

from servicekit.testing import app_client
from users.main import create_app
from users.session.models import RefreshToken, Revocation, Session
from users.settings import UsersSettings


async def _refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": refresh_token})


def _sid(access_token: str) -> str:
    sid: str = jwt.decode(access_token, options={"verify_signature": False})["sid"]
    return sid


@pytest.fixture
async def committing(settings: UsersSettings, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    """The service on its own connections, committing for real: for concurrent requests,
    which one test transaction cannot hold."""
    async with app_client(create_app(settings)) as client:
        yield client


class TestRefresh:
    async def test_a_new_pair_in_the_same_session(self, client: httpx.AsyncClient) -> None:
        user = await register(client)
        first = await log_in(client, user["email"])

        response = await _refresh(client, first["refresh_token"])

        assert response.status_code == 200
        second = response.json()
        assert set(second) == {"access_token", "token_type", "expires_in", "refresh_token"}
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        assert _sid(second["access_token"]) == _sid(first["access_token"])
        assert response.headers["cache-control"] == "no-store"
        me = await client.get("/users/me", headers=auth(second["access_token"]))
        assert me.status_code == 200

    async def test_the_new_refresh_token_refreshes_again(self, client: httpx.AsyncClient) -> None:
        user = await register(client)
        tokens = await log_in(client, user["email"])

        for _ in range(3):
            response = await _refresh(client, tokens["refresh_token"])
            assert response.status_code == 200
            tokens = response.json()

    async def test_reuse_is_refused_and_ends_the_whole_session(
        self, client: httpx.AsyncClient
    ) -> None:
        user = await register(client)
        first = await log_in(client, user["email"])
        second = (await _refresh(client, first["refresh_token"])).json()

        replayed = await _refresh(client, first["refresh_token"])

        assert replayed.status_code == 401
        assert "already used" in replayed.json()["detail"]
        # The thief's copy and the owner's newest pair are both dead now.
        assert (await _refresh(client, second["refresh_token"])).status_code == 401
        me = await client.get("/users/me", headers=auth(second["access_token"]))
        assert me.status_code == 401
        assert "revoked" in me.json()["detail"]

    async def test_reuse_does_not_end_the_users_other_sessions(
        self, client: httpx.AsyncClient
    ) -> None:
        user = await register(client)
        stolen = await log_in(client, user["email"])
        other = await log_in(client, user["email"])
        await _refresh(client, stolen["refresh_token"])

        await _refresh(client, stolen["refresh_token"])

        assert (await _refresh(client, other["refresh_token"])).status_code == 200

    async def test_of_parallel_refreshes_with_one_token_exactly_one_succeeds(
        self, committing: httpx.AsyncClient
    ) -> None:
        user = await register(committing)
        tokens = await log_in(committing, user["email"])

        responses = await asyncio.gather(
            *(_refresh(committing, tokens["refresh_token"]) for _ in range(10))
        )

        assert sorted(r.status_code for r in responses) == [200] + [401] * 9

    async def test_an_unknown_token_is_401(self, client: httpx.AsyncClient) -> None:
        response = await _refresh(client, "not-a-refresh-token")

        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"

    async def test_an_access_token_is_no_refresh_token(self, client: httpx.AsyncClient) -> None:
        user = await register(client)
        tokens = await log_in(client, user["email"])

        assert (await _refresh(client, tokens["access_token"])).status_code == 401

    async def test_an_expired_refresh_token_is_401(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        user = await register(client)
        tokens = await log_in(client, user["email"])
        await db.execute(
            update(RefreshToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

        assert (await _refresh(client, tokens["refresh_token"])).status_code == 401

    @pytest.mark.parametrize(
        "ended",
        [
            {"last_used_at": datetime.now(UTC) - timedelta(days=15)},
            {"expires_at": datetime.now(UTC) - timedelta(seconds=1)},
        ],
        ids=["idle-too-long", "past-its-absolute-lifetime"],
    )
    async def test_a_session_that_has_ended_cannot_refresh(
        self, client: httpx.AsyncClient, db: AsyncSession, ended: dict[str, Any]
    ) -> None:
        user = await register(client)
        tokens = await log_in(client, user["email"])
        sid = uuid.UUID(_sid(tokens["access_token"]))
        await db.execute(update(Session).where(Session.id == sid).values(**ended))

        response = await _refresh(client, tokens["refresh_token"])

        assert response.status_code == 401
        assert "session" in response.json()["detail"]

    async def test_a_deactivated_account_cannot_refresh(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        user = await create_user(db)
        tokens = await log_in(client, user.email)
        user.is_active = False
        await db.flush()

        assert (await _refresh(client, tokens["refresh_token"])).status_code == 401

    @pytest.mark.parametrize(
        "body", [{}, {"refresh_token": ""}, {"refresh_token": "x", "extra": 1}, []]
    )
    async def test_a_malformed_body_is_422(self, client: httpx.AsyncClient, body: Any) -> None:
        assert (await client.post("/auth/refresh", json=body)).status_code == 422


class TestLogout:
    async def test_ends_the_session_everywhere(self, client: httpx.AsyncClient) -> None:
        user = await register(client)
        tokens = await log_in(client, user["email"])

        response = await client.post("/auth/logout", headers=auth(tokens["access_token"]))

        assert response.status_code == 204
        me = await client.get("/users/me", headers=auth(tokens["access_token"]))
        assert me.status_code == 401
        assert me.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
        assert (await _refresh(client, tokens["refresh_token"])).status_code == 401

    async def test_other_sessions_go_on(self, client: httpx.AsyncClient) -> None:
        user = await register(client)
        leaving = await log_in(client, user["email"])
        staying = await log_in(client, user["email"])

        await client.post("/auth/logout", headers=auth(leaving["access_token"]))

        assert (await client.get("/users/me", headers=auth(staying["access_token"]))).is_success
        assert (await _refresh(client, staying["refresh_token"])).is_success

    async def test_is_recorded_in_the_database_for_the_denylist_to_be_rebuilt(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        user = await register(client)
        tokens = await log_in(client, user["email"])
        claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})

        await client.post("/auth/logout", headers=auth(tokens["access_token"]))

        rows = {(r.kind, r.value) for r in (await db.scalars(select(Revocation))).all()}
        assert ("session", claims["sid"]) in rows
        assert ("token", claims["jti"]) in rows
        session = await db.get(Session, uuid.UUID(claims["sid"]))
        assert session is not None
        assert session.revoked_at is not None

    async def test_needs_a_token(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/auth/logout")

        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_twice_is_401_the_second_time(self, client: httpx.AsyncClient) -> None:
        user = await register(client)
        tokens = await log_in(client, user["email"])
        await client.post("/auth/logout", headers=auth(tokens["access_token"]))

        again = await client.post("/auth/logout", headers=auth(tokens["access_token"]))

        assert again.status_code == 401


class TestLogoutAll:
    async def test_ends_every_session_of_the_user_only(self, client: httpx.AsyncClient) -> None:
        user = await register(client)
        someone = await register(client)
        sessions = [await log_in(client, user["email"]) for _ in range(3)]
        theirs = await log_in(client, someone["email"])

        response = await client.post("/auth/logout-all", headers=auth(sessions[0]["access_token"]))

        assert response.status_code == 204
        for tokens in sessions:
            me = await client.get("/users/me", headers=auth(tokens["access_token"]))
            assert me.status_code == 401
            assert (await _refresh(client, tokens["refresh_token"])).status_code == 401
        assert (await client.get("/users/me", headers=auth(theirs["access_token"]))).is_success
        assert (await log_in(client, user["email"]))["access_token"]


class TestListSessions:
    async def test_lists_the_live_sessions_and_marks_the_current_one(
        self, client: httpx.AsyncClient
    ) -> None:
        user = await register(client)
        older = await log_in(client, user["email"])
        response = await client.post(
            "/auth/token",
            data={"username": user["email"], "password": PASSWORD},
            headers={"User-Agent": "phone/2.0"},
        )
        current = response.json()
        ended = await log_in(client, user["email"])
        await client.post("/auth/logout", headers=auth(ended["access_token"]))

        listed = await client.get("/auth/sessions", headers=auth(current["access_token"]))

        assert listed.status_code == 200
        sessions = listed.json()
        assert [s["id"] for s in sessions] == [
            _sid(current["access_token"]),
            _sid(older["access_token"]),
        ]
        assert set(sessions[0]) == {
            "id",
            "created_at",
            "last_used_at",
            "user_agent",
            "ip",
            "current",
        }
        assert [s["current"] for s in sessions] == [True, False]
        assert sessions[0]["user_agent"] == "phone/2.0"
        assert sessions[0]["ip"] == "127.0.0.1"

    async def test_shows_no_one_elses(self, client: httpx.AsyncClient) -> None:
        user, someone = await register(client), await register(client)
        mine = await log_in(client, user["email"])
        await log_in(client, someone["email"])

        listed = (await client.get("/auth/sessions", headers=auth(mine["access_token"]))).json()

        assert [s["id"] for s in listed] == [_sid(mine["access_token"])]

    async def test_needs_a_token(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/auth/sessions")).status_code == 401


class TestEndSession:
    async def test_ends_that_session(self, client: httpx.AsyncClient) -> None:
        user = await register(client)
        here = await log_in(client, user["email"])
        lost_phone = await log_in(client, user["email"])

        response = await client.delete(
            f"/auth/sessions/{_sid(lost_phone['access_token'])}", headers=auth(here["access_token"])
        )

        assert response.status_code == 204
        lost = await client.get("/users/me", headers=auth(lost_phone["access_token"]))
        assert lost.status_code == 401
        assert (await _refresh(client, lost_phone["refresh_token"])).status_code == 401
        assert (await client.get("/users/me", headers=auth(here["access_token"]))).is_success

    async def test_someone_elses_is_404_like_a_missing_one(self, client: httpx.AsyncClient) -> None:
        user, someone = await register(client), await register(client)
        mine = await log_in(client, user["email"])
        theirs = await log_in(client, someone["email"])

        other = await client.delete(
            f"/auth/sessions/{_sid(theirs['access_token'])}", headers=auth(mine["access_token"])
        )
        missing = await client.delete(
            f"/auth/sessions/{uuid.uuid4()}", headers=auth(mine["access_token"])
        )

        assert other.status_code == missing.status_code == 404
        assert (await client.get("/users/me", headers=auth(theirs["access_token"]))).is_success

    async def test_an_id_that_is_not_a_uuid_is_422(self, client: httpx.AsyncClient) -> None:
        user = await register(client)
        mine = await log_in(client, user["email"])

        response = await client.delete("/auth/sessions/nope", headers=auth(mine["access_token"]))

        assert response.status_code == 422
