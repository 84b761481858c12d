"""Password rules and Argon2id hashing, off the event loop.

Hashing runs in a thread pool of its own, one thread per CPU: a burst of
logins queues there instead of starving the event loop or growing memory
(each hash takes ``memory_kib``). Passwords are NFKC-normalised before hashing,
so the same password typed on different keyboards verifies.
"""

from __future__ import annotations

import asyncio
import functools
import os
import unicodedata
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from users.settings import PasswordHashSettings

__all__ = [
    "PasswordHasher",
    "argon2id",
    "is_common_password",
    "open_password_hasher",
    "refuse_common_password",
]

T = TypeVar("T")


@functools.cache
def _common_passwords() -> frozenset[str]:
    text = files("users.account").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def is_common_password(password: str) -> bool:
    """Whether ``password`` is among the most common passwords (case-insensitively)."""
    return password.casefold() in _common_passwords()


def refuse_common_password(password: str) -> str:
    """Pydantic validator: refuse a common password."""
    if is_common_password(password):
        raise ValueError("this password is too common; choose another")
    return password


class PasswordHasher:
    """Hashes and verifies passwords with Argon2id in a dedicated thread pool."""

    def __init__(self, settings: PasswordHashSettings, executor: ThreadPoolExecutor) -> None:
        self._argon2 = argon2id(settings)
        self._executor = executor
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        """The Argon2id hash of ``password``."""
        return await self._run(self._argon2.hash, _normalize(password))

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._run(self._verify, password_hash, _normalize(password))

    async def verify_nothing(self, password: str) -> None:
        """Spend the time of one verification, for an account that does not exist.

        A login for an unknown e-mail must cost what a wrong password costs, or
        its timing tells which e-mails have accounts.
        """
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash("not a real password, only its cost")
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than the current ones."""
        return self._argon2.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _run(self, function: Callable[..., T], *args: str) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)


def argon2id(settings: PasswordHashSettings) -> argon2.PasswordHasher:
    """The Argon2id hasher of ``settings`` (blocking: `PasswordHasher` runs it off the loop)."""
    return argon2.PasswordHasher(
        time_cost=settings.time_cost,
        memory_cost=settings.memory_kib,
        parallelism=settings.parallelism,
        type=argon2.Type.ID,
    )


def _normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@asynccontextmanager
async def open_password_hasher(settings: PasswordHashSettings) -> AsyncIterator[PasswordHasher]:
    """A hasher with its own thread pool, shut down on exit."""
    executor = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="argon2")
    try:
        hasher = PasswordHasher(settings, executor)
        await hasher.verify_nothing("warm-up")
        yield hasher
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
