"""What clients send and get back about accounts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, model_validator

from servicekit.auth import Role
from servicekit.types import StorableStr
from users.account.password import refuse_common_password

__all__ = ["Password", "UserCreate", "UserRead", "UserUpdate"]

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


class UserUpdate(BaseModel):
    """Changes to one's own account: only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    full_name: StorableStr | None = Field(default=None, max_length=200)
    password: Password | None = Field(
        default=None, description="A new password; needs `current_password`."
    )
    current_password: str | None = Field(
        default=None, max_length=128, description="The password now, to change it."
    )

    @model_validator(mode="after")
    def _password_needs_the_current_one(self) -> UserUpdate:
        if self.password is not None and self.current_password is None:
            raise ValueError("changing the password needs `current_password`")
        return self
