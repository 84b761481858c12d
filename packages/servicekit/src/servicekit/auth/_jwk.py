"""Public keys as JSON Web Keys (RFC 7517, RFC 8037) and their thumbprints (RFC 7638)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from servicekit.auth._claims import ACCEPTED_ALGORITHMS, SIGNING_ALGORITHM

__all__ = ["jwk_thumbprint", "public_jwk", "public_key_from_jwk"]


def public_jwk(kid: str, key: Ed25519PublicKey) -> dict[str, str]:
    """The JWK that publishes ``key`` under ``kid``, for signatures of access tokens."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(_raw(key)),
        "kid": kid,
        "use": "sig",
        "alg": SIGNING_ALGORITHM,
    }


def jwk_thumbprint(key: Ed25519PublicKey) -> str:
    """The RFC 7638 thumbprint (SHA-256) of ``key``: a ``kid`` that names it and only it."""
    canonical = orjson.dumps({"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw(key))})
    return _b64url(hashlib.sha256(canonical).digest())


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


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
