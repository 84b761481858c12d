"""What a benchmark run stands on: servers, migrated and seeded databases, a user's token.

Everything lives in a temporary directory and stops with the run: PostgreSQL and
Valkey (embedded, not durable: no fsync), the ``items`` and ``users`` databases
built by the services' own migrations, ``rows`` items, and the users service, where
the benchmark user registers and logs in for the token of the authenticated create.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import asyncpg
import httpx
import psutil
import redis

from servicekit.db import ensure_database
from servicekit.devstack import (
    EmbeddedPostgres,
    EmbeddedRedis,
    free_port,
    spawn_tied,
    stop_process,
    wait_until_serving,
)

__all__ = ["Stack", "pin", "running_stack"]

_EMAIL: Final = "bench@example.com"
_PASSWORD: Final = "a benchmark needs a passphrase too"  # noqa: S105 -- a throwaway account
# Long enough for the longest run: the token must not expire mid-measurement.
_ACCESS_TTL: Final = "86400"


@dataclass(frozen=True)
class Stack:
    """The servers and the facts a run needs about them."""

    directory: Path
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis
    users_url: str
    token: str
    rows: int

    def database_url(self, name: str) -> str:
        """The ``postgresql://`` URL of database ``name``."""
        return self.postgres.url(name)

    def forget_responses(self) -> None:
        """Empty the items service's response cache (its keys only: limits and the
        revocation list stay)."""
        client = redis.Redis.from_url(self.redis.url())
        try:
            names = list(client.scan_iter(match="items:cache:*", count=10_000))
            for start in range(0, len(names), 10_000):
                client.delete(*names[start : start + 10_000])
        finally:
            client.close()

    def service_env(self, prefix: str, name: str) -> dict[str, str]:
        """The settings a service under test gets (``prefix`` e.g. ``ITEMS_``)."""
        return {
            f"{prefix}DATABASE_URL": self.database_url(name),
            f"{prefix}REDIS_URL": self.redis.url(),
            f"{prefix}JWKS_URL": f"{self.users_url}/.well-known/jwks.json",
        }


@contextmanager
def running_stack(*, rows: int, db_cpu: int | None, log: Path | None = None) -> Iterator[Stack]:
    """Start everything, seed ``rows`` items; stop it all on exit."""
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="servicekit-bench-") as tmp:
        directory = Path(tmp)
        postgres = EmbeddedPostgres(
            directory / "postgres",
            port=free_port(),
            password=secrets.token_urlsafe(16),
            durable=False,
        )
        redis = EmbeddedRedis(
            directory / "valkey",
            port=free_port(),
            password=secrets.token_urlsafe(16),
            durable=False,
        )
        _say("starting PostgreSQL and Valkey …")
        for server in (postgres, redis):
            server.start()
            stack.callback(server.stop)
        if db_cpu is not None:
            for pid_file in ("postgres/postmaster.pid", "valkey/valkey.pid"):
                pin(int((directory / pid_file).read_text().split()[0]), db_cpu)
        for name in ("users", "items"):
            asyncio.run(ensure_database(postgres.url(), name))
            _say(f"migrating {name} …")
            env = {f"{name.upper()}_DATABASE_URL": postgres.url(name)} | _users_keys(name)
            subprocess.run(  # noqa: S603 -- our own interpreter and module
                [sys.executable, "-m", name, "migrate"],
                env=os.environ | env | {f"{name.upper()}_REDIS_URL": redis.url()},
                check=True,
                stdout=subprocess.DEVNULL,
            )
        users_port = free_port()
        users_env = (
            os.environ
            | _users_keys("users")
            | {
                "USERS_DATABASE_URL": postgres.url("users"),
                "USERS_REDIS_URL": redis.url(),
                "USERS_PORT": str(users_port),
                "USERS_ACCESS_TOKEN_TTL": _ACCESS_TTL,
                "USERS_LOG_LEVEL": "WARNING",
            }
        )
        users_url = f"http://127.0.0.1:{users_port}"
        argv = _pinned([sys.executable, "-m", "users", "serve"], db_cpu)
        with (log or Path(os.devnull)).open("ab") as output:
            users = spawn_tied(argv, death_signal=signal.SIGTERM, env=users_env, log=output)
        stack.callback(stop_process, users, signal.SIGTERM, 15)
        wait_until_serving(f"{users_url}/health/ready", users, what="users")
        token, user_id = _log_in(users_url)
        _say(f"seeding {rows:,} items …")
        asyncio.run(_seed(postgres.url("items"), rows, owner=user_id))
        yield Stack(directory, postgres, redis, users_url, token, rows)


def pin(pid: int, cpu: int) -> None:
    """Run process ``pid`` and its children (and the children they fork later) on ``cpu``."""
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        process.cpu_affinity([cpu])


def _pinned(argv: list[str], cpu: int | None) -> list[str]:
    return argv if cpu is None else ["taskset", "-c", str(cpu), *argv]


def _users_keys(name: str) -> dict[str, str]:
    if name != "users":
        return {}
    return {"USERS_KEY_ENCRYPTION_KEY": secrets.token_urlsafe(32)}


def _log_in(users_url: str) -> tuple[str, str]:
    with httpx.Client(base_url=users_url, timeout=10) as client:
        user = client.post("/users/", json={"email": _EMAIL, "password": _PASSWORD})
        user.raise_for_status()
        tokens = client.post("/auth/token", data={"username": _EMAIL, "password": _PASSWORD})
        tokens.raise_for_status()
    return str(tokens.json()["access_token"]), str(user.json()["id"])


async def _seed(url: str, rows: int, *, owner: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            """
            INSERT INTO items (name, description, owner_id)
            SELECT 'Item ' || g || ' ' || left(md5(g::text), 12),
                   'A benchmark item, number ' || g || ', ' || md5((g * 7)::text),
                   $1::uuid
            FROM generate_series(1, $2) AS g
            """,
            owner,
            rows,
        )
        await connection.execute("VACUUM ANALYZE items")
    finally:
        await connection.close()


def _say(text: str) -> None:
    print(text, flush=True)  # noqa: T201 -- a terminal program
