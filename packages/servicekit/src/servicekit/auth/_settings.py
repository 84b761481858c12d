"""The settings sections of token verification."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from servicekit.auth._claims import MAX_LEEWAY_SECONDS
from servicekit.settings import SettingsSection

__all__ = ["JwksSettings", "TokenSettings"]


class TokenSettings(SettingsSection):
    """What an access token must say to be accepted (and, in users, what it says)."""

    env_prefix = "TOKEN_"

    issuer: str = "http://127.0.0.1:8001"
    """The ``iss`` claim: who issues tokens (the users service)."""
    audience: str = "api"
    """The ``aud`` claim: the APIs a token is meant for."""
    leeway: int = Field(default=30, ge=0, le=MAX_LEEWAY_SECONDS)
    """Seconds of clock skew tolerated on ``exp`` and ``iat`` (at most 60)."""


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return value


class JwksSettings(SettingsSection):
    """Where a service that verifies tokens finds the issuer's public keys."""

    env_prefix = "JWKS_"

    url: Annotated[str, AfterValidator(_http_url)] = "http://127.0.0.1:8001/.well-known/jwks.json"
    """The users service's JWKS."""
    cache_ttl: float = Field(default=300.0, gt=0)
    """Seconds before cached keys are refetched (in the background)."""
    fetch_timeout: float = Field(default=3.0, gt=0)
    """Seconds a JWKS fetch may take."""
