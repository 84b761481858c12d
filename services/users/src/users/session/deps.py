"""Dependency aliases of the session feature."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from servicekit.auth import Revocations
from users.state import users_state

__all__ = ["Denylist"]


async def _revocations(request: Request) -> Revocations:
    return users_state(request).revocations


Denylist = Annotated[Revocations, Depends(_revocations)]
"""The denylist of access tokens: ending a session writes it before the response."""
