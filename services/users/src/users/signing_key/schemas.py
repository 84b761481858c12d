"""The JWK Set document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

__all__ = ["Jwk", "Jwks"]


class Jwk(BaseModel):
    """A public Ed25519 signing key (RFC 8037)."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: str
    use: Literal["sig"]
    alg: Literal["EdDSA"]


class Jwks(BaseModel):
    """The public keys that verify access tokens."""

    keys: list[Jwk]
