"""The settings sections of token verification."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from servicekit.auth._claims import MAX_LEEWAY_SECONDS
from servicekit.settings import SettingsSection

__all__ = ["JwksSettings", "TokenSettings"]


class TokenSettings(SettingsSection):
    """What an access token must say to be accepted (and, in its issuer, what it says).

    A service declares the section with its issuer's URL as the default.
    """

    env_prefix = "TOKEN_"

    issuer: str
    """The ``iss`` claim: who issues the tokens, as a URL."""
    audience: str = "api"
    """The ``aud`` claim: the APIs a token is meant for."""
    leeway: int = Field(default=30, ge=0, le=MAX_LEEWAY_SECONDS)
    """Seconds of clock skew tolerated on ``exp`` and ``iat`` (at most 60)."""
    cache_size: int = Field(default=10_000, ge=0)
    """Verified tokens remembered until they expire (a check skipped per request); 0: none."""


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return value


class JwksSettings(SettingsSection):
    """Where a service that verifies tokens finds the issuer's public keys."""

    env_prefix = "JWKS_"

    url: Annotated[str, AfterValidator(_http_url)]
    """The token issuer's JWKS document."""
    cache_ttl: float = Field(default=300.0, gt=0)
    """Seconds before cached keys are refetched (in the background)."""
    fetch_timeout: float = Field(default=3.0, gt=0)
    """Seconds a JWKS fetch may take."""
