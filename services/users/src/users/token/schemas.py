"""The token response (RFC 6749 §5.1) and the refresh request."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RefreshRequest", "TokenResponse"]


class TokenResponse(BaseModel):
    """An access token and the refresh token of its session."""

    access_token: str = Field(description="A JWT (RFC 9068) for `Authorization: Bearer`.")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 -- a token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(description="Opaque; exchange it at `POST /auth/refresh`.")


class RefreshRequest(BaseModel):
    """A refresh token to exchange for the next pair."""

    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(
        min_length=1, max_length=4096, description="The refresh token of the last pair."
    )
