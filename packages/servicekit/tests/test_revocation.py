"""`Revocations` against a real Redis, and through a service: denied, fail closed, rebuilt."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import jwt
import pytest
from fastapi import FastAPI
from kit_demo import create_demo_app, demo_settings
from redis.asyncio import Redis

from servicekit.auth import (
    Principal,
    Revocations,
    RevocationUnavailable,
    Revoked,
    TokenRevoked,
)
from servicekit.devstack import free_port
from servicekit.settings import HttpSettings, RedisSettings
from servicekit.testing import TEST_ISSUER, Batchers, TokenFactory, app_client

ISSUER = "https://issuer.example"


def _principal(**changes: Any) -> Principal:
    values: dict[str, Any] = {
        "user_id": uuid.uuid4(),
        "session_id": str(uuid.uuid4()),
        "role": "user",
        "token_id": str(uuid.uuid4()),
        "issuer": ISSUER,
        "expires_at": int(time.time()) + 900,
    }
    return Principal(**(values | changes))


class Source:
    """A revocation source that is a list (the issuer's database, in the service)."""

    def __init__(self, entries: Sequence[Revoked] = ()) -> None:
        self.entries = list(entries)
        self.reads = 0

    async def unexpired(self, *, recorded_since: float | None = None) -> list[Revoked]:
        self.reads += 1
        return [entry for entry in self.entries if entry.until > time.time()]


async def _confirmed(revocations: Revocations, principal: Principal) -> str:
    try:
        await revocations.confirm(revocations.check(principal))
    except TokenRevoked:
        return "revoked"
    except RevocationUnavailable:
        return "unknown"
    return "trusted"


class TestRevocations:
    async def test_a_session_or_a_token_on_the_list_is_refused(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        revocations = Revocations(batchers(redis), issuer=ISSUER)
        await revocations.mark_complete()
        session_gone, token_gone, fine = _principal(), _principal(), _principal()
        later = time.time() + 60

        await revocations.revoke(
            [
                Revoked(kind="session", value=session_gone.session_id, until=later),
                Revoked(kind="token", value=token_gone.token_id, until=later),
            ]
        )

        assert await _confirmed(revocations, session_gone) == "revoked"
        assert await _confirmed(revocations, token_gone) == "revoked"
        assert await _confirmed(revocations, fine) == "trusted"

    async def test_another_issuers_list_is_another_list(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        ours = Revocations(batchers(redis), issuer=ISSUER)
        theirs = Revocations(batchers(redis), issuer="https://elsewhere.example")
        await ours.mark_complete()
        await theirs.mark_complete()
        principal = _principal()

        await theirs.revoke([Revoked("session", principal.session_id, time.time() + 60)])

        assert await _confirmed(ours, principal) == "trusted"
        assert await _confirmed(theirs, principal) == "revoked"

    async def test_entries_are_forgotten_once_no_token_they_cover_lives(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        revocations = Revocations(batchers(redis), issuer=ISSUER)
        principal = _principal()

        await revocations.revoke(
            [
                Revoked("session", principal.session_id, time.time() + 30),
                Revoked("token", principal.token_id, time.time() - 1),
            ]
        )

        keys = [*await redis.keys("revoked:*:sid:*"), *await redis.keys("revoked:*:jti:*")]
        assert len(keys) == 1
        assert 28_000 < await redis.pttl(keys.pop()) <= 30_000

    async def test_without_the_completeness_marker_no_token_is_trusted(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        revocations = Revocations(batchers(redis), issuer=ISSUER)

        assert await _confirmed(revocations, _principal()) == "unknown"

    async def test_the_issuer_rebuilds_an_emptied_list_before_trusting_a_token(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        revoked = _principal()
        source = Source([Revoked("session", revoked.session_id, time.time() + 60)])
        revocations = Revocations(batchers(redis), issuer=ISSUER, source=source)

        first = await asyncio.gather(
            _confirmed(revocations, revoked), _confirmed(revocations, _principal())
        )

        assert list(first) == ["revoked", "trusted"]
        assert source.reads == 1  # concurrent requests share one rebuild

    async def test_unreachable_redis_means_unknown_not_trusted(self, batchers: Batchers) -> None:
        away = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
        try:
            verdict = await _confirmed(Revocations(batchers(away), issuer=ISSUER), _principal())
        finally:
            await away.aclose()

        assert verdict == "unknown"

    async def test_the_keeper_rebuilds_a_list_redis_lost(
        self, batchers: Batchers, redis: Redis
    ) -> None:
        revoked = _principal()
        source = Source([Revoked("session", revoked.session_id, time.time() + 60)])
        revocations = Revocations(batchers(redis), issuer=ISSUER, source=source)
        keeper = asyncio.create_task(revocations.keep(every=0.05))
        try:
            await asyncio.sleep(0.2)
            await redis.flushdb()
            await asyncio.sleep(0.3)
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)

        checker = Revocations(batchers(redis), issuer=ISSUER)  # a verifier elsewhere
        assert await _confirmed(checker, revoked) == "revoked"
        assert await _confirmed(checker, _principal()) == "trusted"


class TestThroughTheService:
    """A service that verifies tokens issued elsewhere (the demo, like items)."""

    @pytest.fixture
    def service(self, database_url: str, redis_url: str, jwks_url: str) -> Callable[..., FastAPI]:
        def build(**sections: Any) -> FastAPI:
            return create_demo_app(demo_settings(database_url, redis_url, jwks_url, **sections))

        return build

    async def test_a_revoked_session_is_401_at_once(
        self,
        batchers: Batchers,
        redis: Redis,
        service: Callable[..., FastAPI],
        token_factory: TokenFactory,
    ) -> None:
        token = token_factory.issue()
        sid = jwt.decode(token, options={"verify_signature": False})["sid"]
        headers = {"Authorization": f"Bearer {token}"}
        async with app_client(service()) as client:
            before = await client.get("/whoami", headers=headers)
            await Revocations(batchers(redis), issuer=TEST_ISSUER).revoke(
                [Revoked("session", sid, time.time() + 60)]
            )
            after = await client.get("/whoami", headers=headers)

        assert before.status_code == 200
        assert after.status_code == 401
        assert after.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
        assert "revoked" in after.json()["detail"]

    async def test_the_check_rides_in_the_rate_limits_script(
        self, redis: Redis, service: Callable[..., FastAPI], token_factory: TokenFactory
    ) -> None:
        async with app_client(service()) as client:
            await client.get(
                "/whoami", headers={"Authorization": f"Bearer {token_factory.issue()}"}
            )
            before = await _evalsha_calls(redis)

            # A new user: its limit goes to Redis, and the revocation check with it.
            response = await client.get(
                "/whoami", headers={"Authorization": f"Bearer {token_factory.issue()}"}
            )

        assert response.status_code == 200
        assert await _evalsha_calls(redis) - before == 1

    async def test_while_redis_is_away_an_authenticated_call_is_503_a_public_one_works(
        self, service: Callable[..., FastAPI], token_factory: TokenFactory
    ) -> None:
        away = RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0", connect_timeout=0.2)
        headers = {"Authorization": f"Bearer {token_factory.issue()}"}
        async with app_client(service(redis=away)) as client:
            authenticated = await client.get("/whoami", headers=headers)
            public = await client.get("/read/notes")

        assert authenticated.status_code == 503
        assert authenticated.headers["retry-after"] == "1"
        assert authenticated.json()["type"] == "/problems/service-unavailable"
        assert public.status_code == 200

    async def test_the_check_is_made_with_the_rate_limit_switched_off_too(
        self,
        batchers: Batchers,
        redis: Redis,
        service: Callable[..., FastAPI],
        token_factory: TokenFactory,
    ) -> None:
        token = token_factory.issue()
        sid = jwt.decode(token, options={"verify_signature": False})["sid"]
        await Revocations(batchers(redis), issuer=TEST_ISSUER).revoke(
            [Revoked("session", sid, time.time() + 60)]
        )
        async with app_client(service(http=HttpSettings(rate_limit_enabled=False))) as client:
            response = await client.get("/whoami", headers={"Authorization": f"Bearer {token}"})

        assert response.status_code == 401


async def _evalsha_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {"calls": 0})["calls"])
