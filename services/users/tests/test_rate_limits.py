"""Brute force on login and sign-up: limits per address and per account, with the defaults."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from user_factories import PASSWORD, unique_email

from servicekit.settings import HttpSettings, Rate, RedisSettings
from servicekit.testing import app_client
from users.main import create_app
from users.settings import AuthSettings, UsersSettings

WRONG = "not the password at all"


@pytest.fixture
async def limited(settings: UsersSettings, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    """The service with the default limits, behind a proxy at 127.0.0.1 (the test client)."""
    defaults = settings.model_copy(
        update={"auth": AuthSettings(), "http": HttpSettings(trusted_proxies=("127.0.0.1",))}
    )
    async with app_client(create_app(defaults)) as client:
        yield client


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def _log_in(client: httpx.AsyncClient, email: str, address: str) -> httpx.Response:
    return await client.post(
        "/auth/token", data={"username": email, "password": WRONG}, headers=_from(address)
    )


class TestLogin:
    async def test_ten_attempts_per_address_then_429(self, limited: httpx.AsyncClient) -> None:
        # Unknown accounts or wrong passwords: the same 401, and each counts.
        emails = [unique_email() for _ in range(11)]

        responses = [await _log_in(limited, email, "203.0.113.7") for email in emails]

        assert [r.status_code for r in responses] == [401] * 10 + [429]
        refused = responses[10]
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) >= 1
        fields = refused.headers.get_list("ratelimit")
        assert '"login";r=0;t=60' in fields
        assert '"login";q=10;w=60' in refused.headers.get_list("ratelimit-policy")

    async def test_ten_attempts_per_account_from_any_addresses(
        self, limited: httpx.AsyncClient
    ) -> None:
        email = unique_email()

        responses = [await _log_in(limited, email, f"198.51.100.{i}") for i in range(11)]
        other_case = await _log_in(limited, email.upper(), "198.51.100.99")

        assert [r.status_code for r in responses] == [401] * 10 + [429]
        assert other_case.status_code == 429

    async def test_the_right_password_is_refused_too_once_limited(
        self, limited: httpx.AsyncClient
    ) -> None:
        email = (await _register(limited, "192.0.2.99")).json()["email"]
        for i in range(10):
            await _log_in(limited, email, f"192.0.2.{i}")

        response = await limited.post(
            "/auth/token",
            data={"username": email, "password": PASSWORD},
            headers=_from("192.0.2.50"),
        )

        assert response.status_code == 429

    async def test_successful_logins_do_not_count(self, limited: httpx.AsyncClient) -> None:
        # Registered through this app: the shared client's writes are rolled back.
        email = (await _register(limited, "203.0.113.12")).json()["email"]

        responses = [
            await limited.post(
                "/auth/token",
                data={"username": email, "password": PASSWORD},
                headers=_from("203.0.113.11"),
            )
            for _ in range(15)
        ]

        assert [r.status_code for r in responses] == [200] * 15, responses[0].text

    async def test_still_limited_while_redis_is_unreachable(self, settings: UsersSettings) -> None:
        email = unique_email()
        away = settings.model_copy(
            update={
                "auth": AuthSettings(),
                "redis": RedisSettings(url="redis://127.0.0.1:1/0", connect_timeout=0.2),
            }
        )
        async with app_client(create_app(away)) as down:
            responses = [await _log_in(down, email, "203.0.113.8") for _ in range(11)]

        assert [r.status_code for r in responses] == [401] * 10 + [429]


class TestRegistration:
    def test_the_default_is_a_hundred_per_address_per_hour(self) -> None:
        assert AuthSettings().registration_policy.policy_header == '"registration";q=100;w=3600'

    async def test_past_the_limit_429_for_that_address_only(
        self, settings: UsersSettings, redis: Redis
    ) -> None:
        five = settings.model_copy(
            update={
                "auth": AuthSettings(registration_rate_limit=Rate(quota=5, window=3600)),
                "http": HttpSettings(trusted_proxies=("127.0.0.1",)),
            }
        )
        async with app_client(create_app(five)) as limited:
            statuses = [(await _register(limited, "203.0.113.9")).status_code for _ in range(6)]
            elsewhere = await _register(limited, "203.0.113.10")

        assert statuses == [201] * 5 + [429]
        assert elsewhere.status_code == 201


async def _register(client: httpx.AsyncClient, address: str) -> httpx.Response:
    return await client.post(
        "/users/", json={"email": unique_email(), "password": PASSWORD}, headers=_from(address)
    )
