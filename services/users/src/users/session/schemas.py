"""What clients get back about their sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

__all__ = ["SessionRead"]


class SessionRead(BaseModel):
    """A live session of the caller: a login on some device."""

    id: uuid.UUID = Field(description="The `sid` of the session's access tokens.")
    created_at: datetime = Field(description="When it logged in.")
    last_used_at: datetime = Field(description="When it last got an access token.")
    user_agent: str | None = Field(description="The `User-Agent` it logged in with.")
    ip: str | None = Field(description="The address it logged in from.")
    current: bool = Field(description="Whether it is the session of the token of this request.")
