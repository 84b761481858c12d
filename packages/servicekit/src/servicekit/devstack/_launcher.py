"""The launcher of the local stack: ``run``, ``migrate``, ``servers``, ``revision``, ``cli``.

See the package's docstring for what each command does and what it reads.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Final

import asyncpg

from servicekit.db import ensure_database
from servicekit.devstack._postgres import EmbeddedPostgres
from servicekit.devstack._processes import (
    ServerError,
    port_in_use,
    set_parent_death_signal,
    spawn_tied,
    wait_until_serving,
)
from servicekit.devstack._valkey import EmbeddedRedis

__all__ = ["main"]

_DEFAULT_POSTGRES_PORT: Final = 54320
_DEFAULT_REDIS_PORT: Final = 63790
_READY_TIMEOUT: Final = 60.0
_STOP_TIMEOUT: Final = 15.0
_WORKER_SETTLE: Final = 1.0
"""Seconds a worker must survive after its start to count as started (it has no probe)."""


@dataclass(frozen=True)
class ServiceSpec:
    """One service of ``[[tool.devstack.services]]``."""

    name: str
    port: int
    secrets: tuple[str, ...] = ()
    worker: bool = False
    """Whether it has an event worker (``python -m <name> worker``) to run beside it."""

    @property
    def prefix(self) -> str:
        """Its settings prefix, e.g. ``USERS_``."""
        return f"{self.name.upper()}_"


@dataclass
class Stack:
    """What `run` started, to stop it in reverse order."""

    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    services: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def stop(self) -> None:
        """Stop services first (they drain requests), then Valkey, then PostgreSQL."""
        for name, process in reversed(self.services.items()):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                _wait_or_kill(process, name)
        self.services.clear()
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m servicekit.devstack``."""
    parser = argparse.ArgumentParser(
        prog="python -m servicekit.devstack", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=["run", "migrate", "servers", "revision", "cli"])
    parser.add_argument("--service", help="revision, cli: the service")
    parser.add_argument("--message", help="revision: what the migration does")
    parser.epilog = "cli: the service's command and its arguments come after --"
    given = sys.argv[1:] if argv is None else argv
    split = given.index("--") if "--" in given else len(given)
    args = parser.parse_args(given[:split])
    arguments = given[split + 1 :]
    if args.command == "revision" and not (args.service and args.message):
        parser.error("revision needs --service and --message")
    if args.command == "cli" and not (args.service and arguments):
        parser.error("cli needs --service and, after --, the service's command: -- signing-keys")
    # Stop cleanly if whoever started us (make, uv) goes away.
    set_parent_death_signal(signal.SIGTERM, expected_parent=os.getppid())
    stack = Stack()
    stopping = _StopSignal()
    try:
        root = _workspace_root()
        data_dir = Path(os.environ.get("DEVSTACK_DATA_DIR", root / ".data")).resolve()
        specs = _read_specs(root)
        env = _prepare(stack, specs, data_dir, with_servers_only=args.command == "servers")
        if args.command == "servers":
            _print_servers(stack, data_dir)
            print("\nPress Ctrl-C to stop.", flush=True)
            stopping.wait(stack)
            return
        _migrate(specs, env)
        if args.command == "revision":
            _run_service_command(args.service, specs, env, "revision", "--message", args.message)
        if args.command == "cli":
            _run_service_command(args.service, specs, env, *arguments)
        if args.command == "run":
            _start_services(stack, specs, env)
            _print_summary(stack, specs, env, data_dir)
            stopping.wait(stack)
    except (ServerError, _StackError) as exc:
        print(f"\nerror: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    finally:
        if stack.services or _owned(stack.postgres) or _owned(stack.redis):
            print("\nstopping…", flush=True)
        stack.stop()


class _StackError(RuntimeError):
    pass


def _owned(server: EmbeddedPostgres | EmbeddedRedis | None) -> bool:
    return server is not None and not server.attached


class _StopSignal:
    """Turns SIGINT, SIGTERM and SIGHUP (a closed terminal) into a clean stop.

    It also notices a service that died.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGHUP, self._handle)

    def _handle(self, signum: int, _: FrameType | None) -> None:
        self.received = signum

    def wait(self, stack: Stack) -> None:
        while self.received is None:
            for name, process in stack.services.items():
                if process.poll() is not None:
                    raise _StackError(f"{name} exited with status {process.returncode}")
            time.sleep(0.2)


def _prepare(
    stack: Stack, specs: list[ServiceSpec], data_dir: Path, *, with_servers_only: bool
) -> dict[str, str]:
    """Start the servers the services need; the environment the services run with."""
    env = dict(os.environ)
    need_postgres = with_servers_only or any(f"{s.prefix}DATABASE_URL" not in env for s in specs)
    need_redis = with_servers_only or any(f"{s.prefix}REDIS_URL" not in env for s in specs)
    logs = data_dir / "logs"
    if need_postgres:
        stack.postgres = EmbeddedPostgres(
            data_dir / "postgres",
            port=int(env.get("DEVSTACK_POSTGRES_PORT", _DEFAULT_POSTGRES_PORT)),
            password=_secret(data_dir, "postgres-password"),
            log_path=logs / "postgres.log",
        )
        _start_server(stack.postgres, "PostgreSQL", [f"{s.prefix}DATABASE_URL" for s in specs])
    if need_redis:
        stack.redis = EmbeddedRedis(
            data_dir / "valkey",
            port=int(env.get("DEVSTACK_REDIS_PORT", _DEFAULT_REDIS_PORT)),
            password=_secret(data_dir, "valkey-password"),
            log_path=logs / "valkey.log",
        )
        _start_server(stack.redis, "Valkey", [f"{s.prefix}REDIS_URL" for s in specs])
    for spec in specs:
        if stack.postgres is not None and f"{spec.prefix}DATABASE_URL" not in env:
            _create_database(stack.postgres, spec.name)
            env[f"{spec.prefix}DATABASE_URL"] = stack.postgres.url(spec.name)
        if stack.redis is not None:
            env.setdefault(f"{spec.prefix}REDIS_URL", stack.redis.url())
        env.setdefault(f"{spec.prefix}PORT", str(spec.port))
        env.setdefault(f"{spec.prefix}LOG_FORMAT", "console")
        for name in spec.secrets:
            env.setdefault(f"{spec.prefix}{name}", _secret(data_dir, f"{spec.name}-{name.lower()}"))
    return env


def _start_server(
    server: EmbeddedPostgres | EmbeddedRedis, name: str, variables: list[str]
) -> None:
    """Start ``server``; if it cannot start, say too how to use a server of one's own."""
    print(f"starting {name} on 127.0.0.1:{server.port} …", flush=True)
    try:
        server.start()
    except ServerError as exc:
        own = ", ".join(variables)
        raise ServerError(f"{exc}\nOr point the services at a {name} of your own: {own}.") from None
    if server.attached:
        print(f"  {name} was already running on {server.data_dir}: using it", flush=True)


def _create_database(server: EmbeddedPostgres, name: str) -> None:
    try:
        asyncio.run(ensure_database(server.url(), name))
    except (OSError, asyncpg.PostgresError) as exc:
        raise _StackError(
            f"cannot create database {name!r} on the PostgreSQL in {server.data_dir}: {exc}. "
            "If its password file was lost, `make clean` starts afresh (and deletes the data)."
        ) from None


def _migrate(specs: list[ServiceSpec], env: Mapping[str, str]) -> None:
    for spec in specs:
        print(f"migrating {spec.name} …", flush=True)
        _run_service_command(spec.name, specs, env, "migrate")


def _run_service_command(
    name: str, specs: list[ServiceSpec], env: Mapping[str, str], *args: str
) -> None:
    if name not in {spec.name for spec in specs}:
        raise _StackError(f"no service {name!r} in [tool.devstack]")
    result = subprocess.run(  # noqa: S603 -- our own interpreter and module
        [sys.executable, "-m", name, *args], env=dict(env), check=False
    )
    if result.returncode != 0:
        raise _StackError(f"`{name} {args[0]}` failed (exit status {result.returncode})")


def _start_services(stack: Stack, specs: list[ServiceSpec], env: Mapping[str, str]) -> None:
    for spec in specs:
        variable = f"{spec.prefix}PORT"
        _require_free_port(int(env[variable]), f"{spec.name} (set {variable} to move it)")
    # In order, each ready before the next starts: items verifies tokens with
    # the keys users publishes.
    for spec in specs:
        print(f"starting {spec.name} …", flush=True)
        process = spawn_tied(
            [sys.executable, "-m", spec.name, "serve"], death_signal=signal.SIGTERM, env=env
        )
        stack.services[spec.name] = process
        wait_until_serving(
            f"http://127.0.0.1:{env[f'{spec.prefix}PORT']}/health/ready",
            process,
            what=spec.name,
            timeout=_READY_TIMEOUT,
        )
    # The workers, once every API is up (they stop first, being started last).
    for spec in specs:
        if spec.worker:
            print(f"starting {spec.name} worker …", flush=True)
            stack.services[f"{spec.name}-worker"] = spawn_tied(
                [sys.executable, "-m", spec.name, "worker"], death_signal=signal.SIGTERM, env=env
            )
    time.sleep(_WORKER_SETTLE)
    for name, process in stack.services.items():
        if process.poll() is not None:
            raise _StackError(f"{name} exited with status {process.returncode} while starting")


def _require_free_port(port: int, what: str) -> None:
    if port_in_use(port):
        raise _StackError(
            f"port {port} for {what} is already in use: is another `make run` running?"
        )


def _print_servers(stack: Stack, data_dir: Path) -> None:
    secrets_dir = data_dir / "secrets"
    if stack.postgres is not None:
        url = _redacted(stack.postgres.url())
        print(f"  postgres  {url}   (password in {secrets_dir / 'postgres-password'})")
    if stack.redis is not None:
        url = _redacted(stack.redis.url())
        print(f"  valkey    {url}   (password in {secrets_dir / 'valkey-password'})")


def _print_summary(
    stack: Stack, specs: list[ServiceSpec], env: Mapping[str, str], data_dir: Path
) -> None:
    print("\nready:", flush=True)
    for spec in specs:
        base = f"http://127.0.0.1:{env[f'{spec.prefix}PORT']}"
        print(f"  {spec.name:<8}  {base}   (API docs: {base}/docs)")
    for spec in specs:
        if spec.worker:
            pid = stack.services[f"{spec.name}-worker"].pid
            print(f"  {spec.name + '-worker':<8}  outbox relay and event consumers (pid {pid})")
    _print_servers(stack, data_dir)
    print(f"\ndata in {data_dir}; logs of the servers in {data_dir / 'logs'}")
    print("Press Ctrl-C to stop everything.", flush=True)


def _redacted(url: str) -> str:
    scheme, _, rest = url.partition("://")
    credentials, _, location = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{location}"


def _secret(data_dir: Path, name: str) -> str:
    """A random secret, generated on first use and kept in ``.data/secrets``."""
    directory = data_dir / "secrets"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / name
    if not path.exists():
        value = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        path.touch(mode=0o600)
        path.write_text(value + "\n")
    return path.read_text().strip()


def _wait_or_kill(process: subprocess.Popen[bytes], name: str) -> None:
    try:
        process.wait(_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop within {_STOP_TIMEOUT:g}s; killing it", file=sys.stderr)
        process.kill()
        process.wait()


def _workspace_root() -> Path:
    for directory in _upwards(Path.cwd()):
        pyproject = directory / "pyproject.toml"
        if pyproject.exists() and "devstack" in tomllib.loads(pyproject.read_text()).get(
            "tool", {}
        ):
            return directory
    raise _StackError(
        "no pyproject.toml with [tool.devstack] here or above: run from the workspace"
    )


def _upwards(start: Path) -> Iterator[Path]:
    yield start
    yield from start.parents


def _read_specs(root: Path) -> list[ServiceSpec]:
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["devstack"]
    return [
        ServiceSpec(
            name=entry["name"],
            port=int(entry["port"]),
            secrets=tuple(entry.get("secrets", ())),
            worker=bool(entry.get("worker", False)),
        )
        for entry in config["services"]
    ]
