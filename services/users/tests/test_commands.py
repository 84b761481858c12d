"""The users CLI: ``create-admin``, ``rotate-signing-key``, ``signing-keys``, as an operator
runs them (a process of their own, settings from the environment, no terminal)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
import time
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from redis.asyncio import Redis
from user_factories import PASSWORD, auth, log_in, register, unique_email

from servicekit.settings import DatabaseSettings
from servicekit.testing import app_client, prepare_database
from users.main import create_app
from users.models import MIGRATIONS
from users.settings import UsersSettings

ADMIN_PASSWORD = "the admin's own long passphrase"


def _users_cli(
    settings: UsersSettings, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USERS_")} | {
        "USERS_DATABASE_URL": settings.database.url,
        "USERS_REDIS_URL": settings.redis.url,
        "USERS_KEY_ENCRYPTION_KEY": settings.keys.key_encryption_key.get_secret_value(),
    }
    return subprocess.run(  # noqa: S603 -- our own interpreter and module
        [sys.executable, "-m", "users", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture
async def own_database(settings: UsersSettings, postgres_url: str) -> UsersSettings:
    """The settings of a database of this test's own: what it commits stays there."""
    url = await prepare_database(postgres_url, "users_commands_test", migrations=MIGRATIONS)
    return settings.model_copy(update={"database": DatabaseSettings(url=url)})


@pytest.fixture
async def service(own_database: UsersSettings, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_app(own_database)) as client:
        yield client


class TestCreateAdmin:
    async def test_from_stdin_without_a_terminal(
        self, own_database: UsersSettings, service: httpx.AsyncClient
    ) -> None:
        email = unique_email()

        done = await asyncio.to_thread(
            _users_cli,
            own_database,
            "create-admin",
            email,
            "--password-stdin",
            stdin=ADMIN_PASSWORD,
        )

        assert done.returncode == 0, done.stderr
        assert f"created admin {email}" in done.stdout
        tokens = await log_in(service, email, ADMIN_PASSWORD)
        claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        assert claims["role"] == "admin"
        listed = await service.get("/users/", headers=auth(tokens["access_token"]))
        assert listed.status_code == 200

    async def test_an_existing_account_is_promoted(
        self, own_database: UsersSettings, service: httpx.AsyncClient
    ) -> None:
        user = await register(service)

        done = await asyncio.to_thread(
            _users_cli,
            own_database,
            "create-admin",
            user["email"],
            "--password-stdin",
            stdin=ADMIN_PASSWORD + "\n",  # as `echo` sends it: the newline is not kept
        )

        assert done.returncode == 0, done.stderr
        assert "is an admin now" in done.stdout
        tokens = await log_in(service, user["email"], ADMIN_PASSWORD)
        me = await service.get("/users/me", headers=auth(tokens["access_token"]))
        assert me.json()["role"] == "admin"
        assert me.json()["id"] == user["id"]

    @pytest.mark.parametrize(
        ("args", "stdin", "message"),
        [
            (["not-an-email", "--password-stdin"], ADMIN_PASSWORD, "email"),
            (["--password-stdin"], "short", "at least 8 characters"),
            (["--password-stdin"], "password123", "too common"),
            ([], None, "--password-stdin"),
        ],
        ids=["bad-email", "short-password", "common-password", "no-terminal"],
    )
    async def test_refuses_what_it_cannot_use_with_a_clear_message(
        self, own_database: UsersSettings, args: list[str], stdin: str | None, message: str
    ) -> None:
        if not args or args[0] != "not-an-email":
            args = [unique_email(), *args]

        done = await asyncio.to_thread(
            _users_cli, own_database, "create-admin", *args, stdin=stdin or ""
        )

        assert done.returncode == 2
        assert message in done.stderr
        assert PASSWORD not in done.stderr


async def test_a_database_it_cannot_reach_is_a_message_not_a_traceback(
    own_database: UsersSettings,
) -> None:
    unreachable = own_database.model_copy(
        update={"database": DatabaseSettings(url="postgresql://nobody:x@127.0.0.1:1/nothing")}
    )

    done = await asyncio.to_thread(
        _users_cli,
        unreachable,
        "create-admin",
        unique_email(),
        "--password-stdin",
        stdin=ADMIN_PASSWORD,
    )

    assert done.returncode == 1
    assert done.stderr.startswith("users create-admin: failed:")
    assert "Traceback" not in done.stderr


class TestRotateSigningKey:
    async def test_the_new_key_is_published_at_once_and_signs_from_its_activation(
        self, own_database: UsersSettings, service: httpx.AsyncClient
    ) -> None:
        user = await register(service)
        before = await _kids(service)
        old_token = (await log_in(service, user["email"]))["access_token"]

        done = await asyncio.to_thread(
            _users_cli, own_database, "rotate-signing-key", "--activate-in", "2"
        )

        assert done.returncode == 0, done.stderr
        new_kid = done.stdout.split("added signing key ", 1)[1].split(":", 1)[0]
        assert new_kid not in before
        assert await _kids(service) == before | {new_kid}
        still_old = (await log_in(service, user["email"]))["access_token"]
        assert _kid(still_old) in before
        await asyncio.sleep(2.5)
        await service.get("/.well-known/jwks.json")  # the keys, reloaded
        new_token = (await log_in(service, user["email"]))["access_token"]
        assert _kid(new_token) == new_kid
        # Tokens the old key signed are still good until they expire.
        assert (await service.get("/users/me", headers=auth(old_token))).is_success
        assert (await service.get("/users/me", headers=auth(new_token))).is_success
        listing = await asyncio.to_thread(_users_cli, own_database, "signing-keys")
        assert f"{new_kid}  activates" in listing.stdout
        assert "signing" in listing.stdout
        assert "retired" in listing.stdout


async def _kids(client: httpx.AsyncClient) -> set[str]:
    keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
    return {key["kid"] for key in keys}


def _kid(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


async def test_in_a_terminal_it_asks_for_the_password_twice(own_database: UsersSettings) -> None:
    email = unique_email()

    done = await asyncio.to_thread(_in_a_terminal, own_database, email, [ADMIN_PASSWORD] * 2)

    assert "Password:" in done
    assert "Again:" in done
    assert f"created admin {email}" in done
    assert ADMIN_PASSWORD not in done  # not echoed


def _in_a_terminal(settings: UsersSettings, email: str, answers: list[str]) -> str:
    """Run create-admin with a pseudo-terminal as its controlling terminal; what it showed."""
    controller, terminal = pty.openpty()

    def own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)

    env = {k: v for k, v in os.environ.items() if not k.startswith("USERS_")} | {
        "USERS_DATABASE_URL": settings.database.url,
        "USERS_REDIS_URL": settings.redis.url,
        "USERS_KEY_ENCRYPTION_KEY": settings.keys.key_encryption_key.get_secret_value(),
    }
    process = subprocess.Popen(  # noqa: S603 -- our own interpreter and module
        [sys.executable, "-m", "users", "create-admin", email],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        preexec_fn=own_terminal,  # noqa: PLW1509 -- the child only takes its terminal
    )
    os.close(terminal)
    shown = b""
    answered = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(controller, 1024)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            asked = shown.count(b"Password:") + shown.count(b"Again:")
            if answered < min(asked, len(answers)):
                os.write(controller, answers[answered].encode() + b"\n")
                answered += 1
        elif process.poll() is not None:
            break
    process.wait(timeout=30)
    os.close(controller)
    return shown.decode(errors="replace")
