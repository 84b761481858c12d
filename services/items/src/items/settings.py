"""Settings of the items service: the common sections and its own, under ``ITEMS_``."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from servicekit.auth import JwksSettings, TokenSettings
from servicekit.settings import ServerSettings, ServiceSettings

__all__ = ["ItemsSettings"]


class ItemsSettings(ServiceSettings):
    """Everything the items service reads from ``ITEMS_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="ITEMS_")

    server: ServerSettings = ServerSettings(port=8002)
    # The users service, where `make run` starts it.
    token: TokenSettings = TokenSettings(issuer="http://127.0.0.1:8001")
    jwks: JwksSettings = JwksSettings(url="http://127.0.0.1:8001/.well-known/jwks.json")
