"""Factories and helpers of the users tests: plain typed functions."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from users.account.models import User
from users.account.password import argon2id
from users.settings import PasswordHashSettings

__all__ = ["PASSWORD", "auth", "create_user", "log_in", "register"]

PASSWORD = "a long and uncommon passphrase"

_counter = itertools.count(1)
# As the app under test hashes (its settings leave the parameters at their defaults).
_hash = argon2id(PasswordHashSettings()).hash(PASSWORD)


def unique_email() -> str:
    """An e-mail no other test uses."""
    return f"user{next(_counter)}@example.com"


async def create_user(db: AsyncSession, **overrides: Any) -> User:
    """A user in the database, whose password is `PASSWORD`."""
    values: dict[str, Any] = {
        "email": unique_email(),
        "password_hash": _hash,
        "full_name": "Test User",
    }
    user = User(**(values | overrides))
    db.add(user)
    await db.flush()
    return user


async def register(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    """Register through the API; the created user."""
    body = {"email": unique_email(), "password": PASSWORD} | overrides
    response = await client.post("/users/", json=body)
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return user


async def log_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """Log in through the API; the token response."""
    response = await client.post("/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def auth(token: str) -> dict[str, str]:
    """The header that presents ``token``."""
    return {"Authorization": f"Bearer {token}"}
