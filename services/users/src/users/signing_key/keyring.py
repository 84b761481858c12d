"""The keyring: signs access tokens with the active key, publishes the public keys.

Keys live in the database so that every instance signs with the same key; the
private half is sealed (AES-256-GCM, the ``kid`` as associated data) with the
key-encryption key from settings, which never touches the database. The first
instance to start with no active key creates one, under an advisory lock.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from servicekit.auth import SIGNING_ALGORITHM, jwk_thumbprint, public_jwk, sign_access_token
from servicekit.db import Database
from users.signing_key.models import SigningKey
from users.signing_key.repository import SigningKeyRepository

__all__ = ["Keyring", "KeyringError"]

_NONCE_BYTES: Final = 12


class KeyringError(RuntimeError):
    """The signing keys cannot be used; the message says what to fix."""


class Keyring:
    """The active signing key and every public key still to be published."""

    def __init__(
        self,
        *,
        active_kid: str,
        private_key: Ed25519PrivateKey,
        public_keys: Mapping[str, Ed25519PublicKey],
    ) -> None:
        self.active_kid = active_kid
        self._private_key = private_key
        self._public_keys = dict(public_keys)

    @classmethod
    async def load(
        cls, database: Database, *, key_encryption_key: bytes, publish_retired_for: timedelta
    ) -> Keyring:
        """Load the keys, creating the first one if there is none."""
        async with database.sessionmaker() as db, db.begin():
            repository = SigningKeyRepository(db)
            await repository.lock_for_creation()
            keys = list(await repository.list_all())
            if not any(key.retired_at is None for key in keys):
                new_key = _generate(key_encryption_key)
                await repository.add(new_key)
                keys.append(new_key)
        active = [key for key in keys if key.retired_at is None][-1]
        horizon = datetime.now(UTC) - publish_retired_for
        published = {
            key.kid: Ed25519PublicKey.from_public_bytes(key.public_key)
            for key in keys
            if key.retired_at is None or key.retired_at > horizon
        }
        return cls(
            active_kid=active.kid,
            private_key=_unseal(active, key_encryption_key),
            public_keys=published,
        )

    def sign(self, claims: Mapping[str, Any]) -> str:
        """An access token with ``claims``, signed by the active key."""
        return sign_access_token(claims, self._private_key, kid=self.active_kid)

    async def get_key(self, kid: str) -> Ed25519PublicKey | None:
        """The public key named ``kid`` (the `KeySource` the users service verifies with)."""
        return self._public_keys.get(kid)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public keys as a JWK Set."""
        return {"keys": [public_jwk(kid, key) for kid, key in self._public_keys.items()]}


def _generate(key_encryption_key: bytes) -> SigningKey:
    private_key = Ed25519PrivateKey.generate()
    public_raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = jwk_thumbprint(private_key.public_key())
    private_raw = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    nonce = os.urandom(_NONCE_BYTES)
    sealed = nonce + AESGCM(key_encryption_key).encrypt(nonce, private_raw, kid.encode())
    return SigningKey(
        kid=kid, algorithm=SIGNING_ALGORITHM, public_key=public_raw, sealed_private_key=sealed
    )


def _unseal(key: SigningKey, key_encryption_key: bytes) -> Ed25519PrivateKey:
    nonce, ciphertext = key.sealed_private_key[:_NONCE_BYTES], key.sealed_private_key[_NONCE_BYTES:]
    try:
        private_raw = AESGCM(key_encryption_key).decrypt(nonce, ciphertext, key.kid.encode())
    except InvalidTag:
        raise KeyringError(
            f"USERS_KEY_ENCRYPTION_KEY does not decrypt signing key {key.kid}: it must be the "
            "key-encryption key the keys were created with."
        ) from None
    return Ed25519PrivateKey.from_private_bytes(private_raw)
