"""Settings of the users service: the common sections and its own, under ``USERS_``."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Final

from pydantic import AfterValidator, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from servicekit.auth import TokenSettings
from servicekit.ratelimit import RatePolicy
from servicekit.settings import Rate, RateText, ServerSettings, ServiceSettings, SettingsSection

__all__ = ["AuthSettings", "KeySettings", "PasswordHashSettings", "UsersSettings"]

# OWASP's Argon2id minimums: memory (KiB) for each time cost (iterations).
_OWASP_MIN_MEMORY_KIB: Final = {1: 47_104, 2: 19_456, 3: 12_288, 4: 9_216, 5: 7_168}


class AuthSettings(SettingsSection):
    """Lifetimes of tokens and sessions."""

    access_token_ttl: int = Field(default=900, ge=60, le=86_400)
    """Seconds an access token is valid."""
    refresh_token_ttl: int = Field(default=2_592_000, ge=300)
    """Absolute lifetime of a session, in seconds: no refresh extends it."""
    session_idle_ttl: int = Field(default=1_209_600, ge=300)
    """Seconds a session survives without a refresh."""
    login_rate_limit: RateText = Rate(quota=10, window=60)
    """Failed login attempts per client address, and per account, in a window (brute
    force); a successful login does not count."""
    registration_rate_limit: RateText = Rate(quota=100, window=3600)
    """Accounts registered per client address in a window (an office behind one NAT
    still signs up; a script making thousands does not)."""

    @property
    def login_policy(self) -> RatePolicy:
        """The login limit, as the policy ``login``."""
        return RatePolicy.of("login", self.login_rate_limit)

    @property
    def registration_policy(self) -> RatePolicy:
        """The registration limit, as the policy ``registration``."""
        return RatePolicy.of("registration", self.registration_rate_limit)


def _key_encryption_key(value: SecretStr) -> SecretStr:
    raw = value.get_secret_value()
    try:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("must be base64url") from None
    if len(key) != 32:
        raise ValueError("must be 32 bytes, base64url-encoded (e.g. `openssl rand -base64 32`)")
    return value


class KeySettings(SettingsSection):
    """The key that encrypts the token-signing keys stored in the database."""

    key_encryption_key: Annotated[SecretStr, AfterValidator(_key_encryption_key)]
    """32 random bytes, base64url: every instance needs the same one."""
    key_activation_delay: int = Field(default=600, ge=0)
    """Seconds from adding a signing key (``rotate-signing-key``) to signing with it: longer
    than any verifier caches the JWKS (``ITEMS_JWKS_CACHE_TTL``, 300), so that every
    verifier knows the key before a token carries it."""

    def key_bytes(self) -> bytes:
        """The raw 32-byte key."""
        raw = self.key_encryption_key.get_secret_value()
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))


class PasswordHashSettings(SettingsSection):
    """Argon2id cost; never below OWASP's recommended minimums."""

    env_prefix = "PASSWORD_HASH_"

    time_cost: int = Field(default=2, ge=1, le=20)
    """Iterations."""
    memory_kib: int = Field(default=19_456, le=4_194_304)
    """Memory per hash, in KiB."""
    parallelism: int = Field(default=1, ge=1, le=16)
    """Lanes per hash."""

    @model_validator(mode="after")
    def _at_least_owasp(self) -> PasswordHashSettings:
        minimum = _OWASP_MIN_MEMORY_KIB[min(self.time_cost, 5)]
        if self.memory_kib < minimum:
            raise ValueError(
                f"memory_kib must be at least {minimum} with time_cost {self.time_cost} (OWASP)"
            )
        return self


class UsersSettings(ServiceSettings):
    """Everything the users service reads from ``USERS_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="USERS_")

    server: ServerSettings = ServerSettings(port=8001)
    token: TokenSettings = TokenSettings(issuer="http://127.0.0.1:8001")
    auth: AuthSettings = AuthSettings()
    keys: KeySettings
    password_hash: PasswordHashSettings = PasswordHashSettings()
