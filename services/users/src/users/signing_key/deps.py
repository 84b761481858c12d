"""Dependency aliases of the signing-key feature."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from users.signing_key.keyring import Keyring
from users.state import users_state

__all__ = ["Keys"]


async def _keyring(request: Request) -> Keyring:
    return users_state(request).keyring


Keys = Annotated[Keyring, Depends(_keyring)]
"""The keyring: signs access tokens, publishes the public keys."""
