"""What the users service holds for its lifetime, beyond what every service holds."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from servicekit.state import ServiceState, service_state
from users.account.password import PasswordHasher
from users.settings import UsersSettings
from users.signing_key.keyring import Keyring

__all__ = ["UsersState", "users_state"]


@dataclass(frozen=True, kw_only=True)
class UsersState(ServiceState):
    settings: UsersSettings
    keyring: Keyring
    passwords: PasswordHasher


def users_state(request: Request) -> UsersState:
    return service_state(request, UsersState)
