"""Signing an access token: the JWS header every access token has."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from servicekit.auth._claims import ACCESS_TOKEN_TYPE, SIGNING_ALGORITHM

__all__ = ["sign_access_token"]


def sign_access_token(
    claims: Mapping[str, Any],
    key: Ed25519PrivateKey,
    *,
    kid: str,
    headers: Mapping[str, Any] | None = None,
) -> str:
    """``claims`` as a signed access token: ``alg`` EdDSA, ``typ`` at+jwt, ``kid`` the key's.

    ``headers`` add to (or, for negative tests, replace) those header fields.
    """
    return jwt.encode(
        dict(claims),
        key,
        algorithm=SIGNING_ALGORITHM,
        headers={"kid": kid, "typ": ACCESS_TOKEN_TYPE, **(headers or {})},
    )
