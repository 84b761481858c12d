"""The keyring: signs access tokens with the active key, publishes the public keys.

Keys live in the database so that every instance signs with the same key; the
private half is sealed (AES-256-GCM, the ``kid`` as associated data) with the
key-encryption key from settings, which never touches the database. The first
instance to start with no key creates one, under an advisory lock.

Rotation (`add_signing_key`, ``python -m users rotate-signing-key``) adds a key that
*activates* later: it is published in the JWKS at once, and signs only from its
activation, which comes after every verifier has refreshed its cached JWKS. The key it
replaces stops signing then, and stays published until the last token it signed has
expired; after that it is deleted. Every instance reloads the keys every few seconds
(`Keyring.keep`), and switches keys at the activation time on its own clock.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import structlog
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

__all__ = ["Keyring", "KeyringError", "add_signing_key", "describe"]

_NONCE_BYTES: Final = 12
_RELOAD_EVERY: Final = 5.0
"""Seconds between reloads of the keys: far below any sensible activation delay."""
_FRESH: Final = 1.0
"""How old the keys the JWKS publishes may be, in seconds."""

_log = structlog.get_logger("users.signing_key")


class KeyringError(RuntimeError):
    """The signing keys cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class _Key:
    kid: str
    activates_at: datetime
    retired_at: datetime | None
    public: Ed25519PublicKey
    private: Ed25519PrivateKey


class Keyring:
    """The keys of every instance: the one signing now, and every one to publish."""

    def __init__(
        self,
        database: Database,
        *,
        key_encryption_key: bytes,
        publish_retired_for: timedelta,
    ) -> None:
        self._database = database
        self._kek = key_encryption_key
        self._publish_retired_for = publish_retired_for
        self._keys: list[_Key] = []
        self._loaded_at = 0.0

    @classmethod
    async def load(
        cls, database: Database, *, key_encryption_key: bytes, publish_retired_for: timedelta
    ) -> Keyring:
        """The keyring, with a first key created if there is none."""
        keyring = cls(
            database,
            key_encryption_key=key_encryption_key,
            publish_retired_for=publish_retired_for,
        )
        async with database.sessionmaker() as db, db.begin():
            repository = SigningKeyRepository(db)
            await repository.lock_for_creation()
            if not await repository.list_all():
                await repository.add(_generate(key_encryption_key, activates_at=_now()))
        await keyring.reload()
        return keyring

    async def reload(self) -> None:
        """Read the keys again (another instance, or the CLI, may have added one)."""
        async with self._database.sessionmaker() as db:
            rows = await SigningKeyRepository(db).list_all()
        keys = sorted((self._unsealed(row) for row in rows), key=lambda key: key.activates_at)
        if not keys:
            raise KeyringError("no signing key in the database")
        self._keys = keys
        self._loaded_at = time.monotonic()

    async def fresh(self) -> Keyring:
        """The keyring, reloaded first unless that was done in the last second: what the
        JWKS publishes is what the database holds, a key added a moment ago included."""
        if time.monotonic() - self._loaded_at > _FRESH:
            await self.reload()
        return self

    async def keep(self) -> None:
        """Reload the keys every few seconds, until cancelled."""
        while True:
            await asyncio.sleep(_RELOAD_EVERY)
            try:
                await self.reload()
            except Exception:  # the database away: keep signing with what is loaded
                _log.exception("signing_keys_reload_failed")

    @property
    def active_kid(self) -> str:
        """The ``kid`` of the key that signs now."""
        return self._active().kid

    def sign(self, claims: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None) -> str:
        """An access token with ``claims``, signed by the key active now (``headers`` add
        to its JWS header, or replace its fields: for negative tests)."""
        key = self._active()
        return sign_access_token(claims, key.private, kid=key.kid, headers=headers)

    async def get_key(self, kid: str) -> Ed25519PublicKey | None:
        """The public key named ``kid``, if published (the `KeySource` users verifies with)."""
        return next((key.public for key in self._published() if key.kid == kid), None)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The published public keys as a JWK Set: the active one, those activating
        later, and the retired ones whose tokens may still be valid."""
        return {"keys": [public_jwk(key.kid, key.public) for key in self._published()]}

    def _active(self) -> _Key:
        """The key activated last that has not retired; keys are few, so a scan."""
        now = _now()
        activated = [key for key in self._keys if key.activates_at <= now]
        for key in reversed(activated):
            if key.retired_at is None or key.retired_at > now:
                return key
        # A clock behind the database's, or every key retired: the newest activated signs.
        return activated[-1] if activated else self._keys[0]

    def _published(self) -> list[_Key]:
        horizon = _now() - self._publish_retired_for
        return [key for key in self._keys if key.retired_at is None or key.retired_at > horizon]

    def _unsealed(self, row: SigningKey) -> _Key:
        return _Key(
            kid=row.kid,
            activates_at=row.activates_at,
            retired_at=row.retired_at,
            public=Ed25519PublicKey.from_public_bytes(row.public_key),
            private=_unseal(row, self._kek),
        )


async def add_signing_key(
    database: Database,
    *,
    key_encryption_key: bytes,
    activate_in: timedelta,
    forget_retired_after: timedelta,
) -> SigningKey:
    """Add a key that signs from ``activate_in`` from now; the newest key until then
    retires at that moment. Keys retired longer than ``forget_retired_after`` ago (no
    token they signed is valid any more) are deleted."""
    activates_at = _now() + activate_in
    async with database.sessionmaker() as db, db.begin():
        repository = SigningKeyRepository(db)
        await repository.lock_for_creation()
        keys = list(await repository.list_all())
        key = _generate(key_encryption_key, activates_at=activates_at)
        for earlier in keys:
            if earlier.retired_at is None or earlier.retired_at > activates_at:
                earlier.retired_at = max(activates_at, earlier.activates_at)
        await repository.add(key)
        await repository.delete_retired_before(_now() - forget_retired_after)
    return key


def describe(keys: Sequence[SigningKey], *, now: datetime | None = None) -> list[str]:
    """A line per key: its kid, when it signs, and what it is now."""
    moment = now or _now()
    lines = []
    for key in sorted(keys, key=lambda k: k.activates_at):
        if key.activates_at > moment:
            state = "published, signs from its activation"
        elif key.retired_at is None or key.retired_at > moment:
            state = "signing"
        else:
            state = "retired, published while its tokens live"
        retires = key.retired_at.isoformat(timespec="seconds") if key.retired_at else "-"
        lines.append(
            f"{key.kid}  activates {key.activates_at.isoformat(timespec='seconds')}  "
            f"retires {retires}  {state}"
        )
    return lines


def _now() -> datetime:
    return datetime.now(UTC)


def _generate(key_encryption_key: bytes, *, activates_at: datetime) -> SigningKey:
    private_key = Ed25519PrivateKey.generate()
    public_raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = jwk_thumbprint(private_key.public_key())
    private_raw = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    nonce = os.urandom(_NONCE_BYTES)
    sealed = nonce + AESGCM(key_encryption_key).encrypt(nonce, private_raw, kid.encode())
    return SigningKey(
        kid=kid,
        algorithm=SIGNING_ALGORITHM,
        public_key=public_raw,
        sealed_private_key=sealed,
        activates_at=activates_at,
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
