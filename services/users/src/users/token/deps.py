"""Dependency aliases of the token feature."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from users.settings import UsersSettings
from users.state import users_state

__all__ = ["Settings"]


async def _settings(request: Request) -> UsersSettings:
    return users_state(request).settings


Settings = Annotated[UsersSettings, Depends(_settings)]
"""The service's settings: what tokens say (issuer, audience) and how long they last."""
