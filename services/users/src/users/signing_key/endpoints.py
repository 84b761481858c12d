"""``/.well-known/jwks.json``: the public keys, for every verifier."""

from __future__ import annotations

from fastapi import Response

from servicekit.http import ServiceRouter
from users.signing_key.deps import Keys
from users.signing_key.schemas import Jwks

__all__ = ["router"]

router = ServiceRouter(tags=["keys"])

# Verifiers refetch at once when they meet an unknown `kid`; this only bounds
# how long intermediaries may serve a copy.
_CACHE_CONTROL = "public, max-age=300"


@router.get("/.well-known/jwks.json", response_model=Jwks, summary="Public signing keys (JWKS)")
async def get_jwks(keyring: Keys, response: Response) -> Jwks:
    """The public keys that verify access tokens: the one signing now, one added to sign
    later (published at once), and retired ones whose tokens may still be valid. No
    private key material, ever."""
    response.headers["Cache-Control"] = _CACHE_CONTROL
    return Jwks.model_validate((await keyring.fresh()).jwks())
