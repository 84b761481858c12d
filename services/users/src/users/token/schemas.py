"""The token response (RFC 6749 §5.1)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["TokenResponse"]


class TokenResponse(BaseModel):
    """An access token and the refresh token of its session."""

    access_token: str = Field(description="A JWT (RFC 9068) for `Authorization: Bearer`.")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 -- a token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(description="Opaque; exchange it at `POST /auth/refresh`.")
