"""The users service's own commands: ``create-admin``, ``rotate-signing-key``, ``signing-keys``.

Each runs with the service's settings (``USERS_DATABASE_URL``, ``USERS_KEY_ENCRYPTION_KEY``,
…) from the environment, like ``serve``; none needs the service to be running.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import timedelta
from typing import Final

from pydantic import EmailStr, TypeAdapter, ValidationError

from servicekit.auth import MAX_LEEWAY_SECONDS
from servicekit.cli import Command
from servicekit.db import open_database
from users.account.models import User
from users.account.password import open_password_hasher
from users.account.repository import UserRepository
from users.account.schemas import Password
from users.settings import UsersSettings
from users.signing_key.keyring import add_signing_key, describe
from users.signing_key.repository import SigningKeyRepository

__all__ = ["COMMANDS"]

_EMAIL: Final = TypeAdapter(EmailStr)
_PASSWORD: Final = TypeAdapter(Password)
_USAGE: Final = 2


def _create_admin_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("email", help="the admin's e-mail (an existing account is promoted)")
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (no terminal needed): "
        'printf %%s "$PASSWORD" | python -m users create-admin EMAIL --password-stdin',
    )


def _create_admin(settings: UsersSettings, args: argparse.Namespace) -> int:
    try:
        email = _EMAIL.validate_python(args.email)
        password = _PASSWORD.validate_python(_read_password(stdin=args.password_stdin))
    except ValidationError as exc:
        reason = "; ".join(error["msg"] for error in exc.errors(include_url=False))
        print(f"create-admin: {reason}", file=sys.stderr)
        return _USAGE
    except _NoPassword as exc:
        print(f"create-admin: {exc}", file=sys.stderr)
        return _USAGE
    print(asyncio.run(_make_admin(settings, email, password)))
    return 0


class _NoPassword(Exception):
    """No password could be read."""


def _read_password(*, stdin: bool) -> str:
    if stdin:
        text = sys.stdin.read()
        # `echo` adds a newline that is not part of the password; `printf %s` adds none.
        return text.removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        raise _NoPassword("no terminal to ask for the password: pass it with --password-stdin")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise _NoPassword("the passwords differ")
    return first


async def _make_admin(settings: UsersSettings, email: str, password: str) -> str:
    async with (
        open_database(settings.database, application_name="users-cli") as database,
        open_password_hasher(settings.password_hash) as passwords,
    ):
        password_hash = await passwords.hash(password)
        async with database.sessionmaker() as db, db.begin():
            repository = UserRepository(db)
            user = await repository.get_by_email(email)
            if user is None:
                user = await repository.add(
                    User(email=email, password_hash=password_hash, role="admin")
                )
                return f"created admin {user.email} ({user.id})"
            user.role = "admin"
            user.password_hash = password_hash
            user.is_active = True
            return (
                f"{user.email} ({user.id}) is an admin now, with the password given "
                "(tokens issued before say the role they had: it shows from the next login "
                "or refresh)"
            )


def _rotate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--activate-in",
        type=int,
        metavar="SECONDS",
        help="seconds until the new key signs (default: USERS_KEY_ACTIVATION_DELAY, 600)",
    )


def _rotate(settings: UsersSettings, args: argparse.Namespace) -> int:
    delay = settings.keys.key_activation_delay if args.activate_in is None else args.activate_in
    if delay < 0:
        print("rotate-signing-key: --activate-in must be 0 or more", file=sys.stderr)
        return _USAGE

    async def rotate() -> str:
        async with open_database(settings.database, application_name="users-cli") as database:
            key = await add_signing_key(
                database,
                key_encryption_key=settings.keys.key_bytes(),
                activate_in=timedelta(seconds=delay),
                forget_retired_after=timedelta(
                    seconds=settings.auth.access_token_ttl + MAX_LEEWAY_SECONDS
                ),
            )
        return (
            f"added signing key {key.kid}: published now, signs from "
            f"{key.activates_at.isoformat(timespec='seconds')} (in {delay} s); the key "
            "signing until then stays published until its last token has expired"
        )

    print(asyncio.run(rotate()))
    return 0


def _list_keys(settings: UsersSettings, _: argparse.Namespace) -> int:
    async def listing() -> list[str]:
        async with (
            open_database(settings.database, application_name="users-cli") as database,
            database.sessionmaker() as db,
        ):
            return describe(await SigningKeyRepository(db).list_all())

    print("\n".join(asyncio.run(listing())))
    return 0


COMMANDS: Final[tuple[Command[UsersSettings], ...]] = (
    Command(
        "create-admin",
        "make an admin: a new account, or an existing one promoted (the only way to the "
        "first admin)",
        _create_admin,
        _create_admin_arguments,
    ),
    Command(
        "rotate-signing-key",
        "add a signing key: published in the JWKS at once, signing after the activation delay",
        _rotate,
        _rotate_arguments,
    ),
    Command("signing-keys", "list the signing keys and what each does now", _list_keys),
)
