"""Public keys as JSON Web Keys (RFC 7517, RFC 8037)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from servicekit.auth._claims import ACCEPTED_ALGORITHMS

__all__ = ["public_key_from_jwk"]


def public_key_from_jwk(jwk: Mapping[str, Any]) -> Ed25519PublicKey | None:
    """The Ed25519 public key of a JWK, or ``None`` if it is not one we can use."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        return None
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", "EdDSA") not in ACCEPTED_ALGORITHMS:
        return None
    if "d" in jwk:  # a private key has no business in a JWKS
        return None
    try:
        key = jwt.PyJWK(dict(jwk), algorithm="EdDSA").key
    except jwt.PyJWTError:
        return None
    return key if isinstance(key, Ed25519PublicKey) else None
