"""Across services: a logout at users ends the token at every instance of items.

Two instances of items share one Redis and one database (``conftest.py``).
"""

from __future__ import annotations

import time

import httpx

from items.main import create_app as create_items_app
from items.settings import ItemsSettings
from servicekit.testing import app_client

ISSUER = "http://127.0.0.1:8001"
PASSWORD = "a long and uncommon passphrase"


async def test_logout_at_users_ends_the_token_at_every_items_instance_within_a_second(
    users_url: str, items_settings: ItemsSettings
) -> None:
    async with (
        httpx.AsyncClient(base_url=users_url) as users,
        app_client(create_items_app(items_settings)) as first,
        app_client(create_items_app(items_settings)) as second,
    ):
        email = "e2e-logout@example.com"
        registered = await users.post("/users/", json={"email": email, "password": PASSWORD})
        assert registered.status_code == 201
        tokens = (
            await users.post("/auth/token", data={"username": email, "password": PASSWORD})
        ).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert (await users.get("/users/me", headers=headers)).status_code == 200
        for items in (first, second):
            created = await items.post("/items/", json={"name": "Lamp"}, headers=headers)
            assert created.status_code == 201, created.text

        assert (await users.post("/auth/logout", headers=headers)).status_code == 204
        logged_out_at = time.monotonic()
        refused: dict[str, float] = {}
        while len(refused) < 2 and time.monotonic() - logged_out_at < 1.0:
            for name, items in (("first", first), ("second", second)):
                response = await items.post("/items/", json={"name": "Lamp"}, headers=headers)
                if response.status_code == 401:
                    refused.setdefault(name, time.monotonic() - logged_out_at)

        assert set(refused) == {"first", "second"}
        assert max(refused.values()) < 1.0
        # Public reads are not affected.
        assert (await first.get("/items/")).status_code == 200
