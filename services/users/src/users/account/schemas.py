"""What clients send and get back about accounts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from servicekit.auth import Role
from servicekit.types import StorableStr
from users.account.password import refuse_common_password

__all__ = ["Password", "UserCreate", "UserRead"]

Password = Annotated[
    str,
    Field(min_length=8, max_length=128, description="8 to 128 characters, any Unicode."),
    AfterValidator(refuse_common_password),
]


class UserCreate(BaseModel):
    """A registration."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: Password
    full_name: StorableStr | None = Field(default=None, max_length=200)


class UserRead(BaseModel):
    """A user as clients see it; never the password hash."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str | None
    role: Role
    is_active: bool
    created_at: datetime
