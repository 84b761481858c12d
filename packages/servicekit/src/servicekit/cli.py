"""The command line every service has: ``python -m <service> serve|migrate|revision``.

A service's ``__main__.py`` is one call::

    run_service_cli(name="items", settings_cls=ItemsSettings, create_app=create_app,
                    migrations=MIGRATIONS)

and a service adds commands of its own as `Command` objects (``commands=[…]``).

Settings are read once, before anything starts; a bad value stops the command
with exit status 2 and a message that names each offending variable.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

import orjson
import uvicorn
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from uvicorn.supervisors import Multiprocess

from servicekit.db import Migrations
from servicekit.events import EventWorker, ServiceEvents, dead_letters, replay_dead_letters
from servicekit.observability import configure_logging
from servicekit.redis import open_redis
from servicekit.settings import ServiceSettings, SettingsError, load_settings

__all__ = ["Command", "run_service_cli", "serve", "worker_app"]

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)

_GRACEFUL_SHUTDOWN_SECONDS: Final = 10
_STARTUP_FAILED: Final = 3
_WORKER_APP: Final = "SERVICEKIT_WORKER_APP"
"""How `serve` tells its worker processes which app to build (they start from nothing)."""


@dataclass(frozen=True)
class Command(Generic[SettingsT]):
    """A command of a service's own, beside ``serve``, ``migrate`` and ``revision``.

    ``run`` gets the service's settings (read and checked as for ``serve``) and the
    parsed arguments, and returns the exit status; ``arguments`` declares them.
    """

    name: str
    help: str
    run: Callable[[SettingsT, argparse.Namespace], int]
    arguments: Callable[[argparse.ArgumentParser], None] = field(default=lambda parser: None)


def run_service_cli(
    *,
    name: str,
    settings_cls: type[SettingsT],
    create_app: Callable[[SettingsT], FastAPI],
    migrations: Migrations,
    commands: Sequence[Command[SettingsT]] = (),
    events: ServiceEvents | None = None,
    argv: Sequence[str] | None = None,
) -> None:
    """Parse the command line and run the command; a service with ``events`` has
    ``worker`` and ``dead-letters`` too."""
    if events is not None:
        commands = [*commands, *_event_commands(name, events)]
    parser = argparse.ArgumentParser(prog=f"python -m {name}", description=f"The {name} service.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subparsers.add_parser("serve", help="run the HTTP server (host and port from settings)")
    subparsers.add_parser("migrate", help="apply the database migrations up to the latest")
    revision = subparsers.add_parser(
        "revision", help="write a new migration, compared against a database at head"
    )
    revision.add_argument("-m", "--message", required=True, help="what the migration does")
    own = {command.name: command for command in commands}
    for command in commands:
        command.arguments(
            subparsers.add_parser(command.name, help=command.help, description=command.help)
        )
    args = parser.parse_args(argv)

    try:
        settings = load_settings(settings_cls, service=name)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    for variable in settings_cls.unknown_variables(os.environ):
        print(f"{name}: warning: {variable} is set but is not a setting (a typo?)", file=sys.stderr)

    if args.command == "migrate":
        migrations.upgrade(settings.database.url)
    elif args.command == "revision":
        migrations.revision(settings.database.url, message=args.message)
    elif args.command in own:
        raise SystemExit(_run_own(own[args.command], settings, args, name=name))
    else:
        serve(create_app, settings, name=name)


def _event_commands(name: str, events: ServiceEvents) -> list[Command[Any]]:
    def worker(settings: ServiceSettings, _: argparse.Namespace) -> int:
        configure_logging(level=settings.log.level, format=settings.log.format, service=name)
        EventWorker(settings, name=name, events=events).serve()
        return 0

    def letters(settings: ServiceSettings, args: argparse.Namespace) -> int:
        return asyncio.run(_dead_letters(settings, name, events, args))

    def letter_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--replay", nargs="+", metavar="ID", help="put these dead letters back on their stream"
        )
        parser.add_argument(
            "--replay-all", action="store_true", help="put every dead letter back on its stream"
        )

    return [
        Command(
            "worker",
            "run the event worker: the outbox relay and the consumers, until SIGTERM",
            worker,
        ),
        Command(
            "dead-letters",
            "list the events this service's consumers gave up on, or replay them",
            letters,
            letter_arguments,
        ),
    ]


async def _dead_letters(
    settings: ServiceSettings, name: str, events: ServiceEvents, args: argparse.Namespace
) -> int:
    async with open_redis(settings.redis, client_name=f"{name}-cli") as redis:
        for subscription in events.subscriptions:
            stream = subscription.stream
            if args.replay or args.replay_all:
                replayed = await replay_dead_letters(
                    redis, stream, None if args.replay_all else list(args.replay)
                )
                print(f"{stream}: {replayed} replayed")
                continue
            letters = [
                letter for letter in await dead_letters(redis, stream) if letter.group == name
            ]
            print(f"{stream}: {len(letters)} dead letters")
            for letter in letters:
                print(
                    f"  {letter.id}  {letter.type}  after {letter.deliveries} deliveries: "
                    f"{letter.error}"
                )
    return 0


def _run_own(
    command: Command[SettingsT], settings: SettingsT, args: argparse.Namespace, *, name: str
) -> int:
    """The command's exit status; a database or network that fails it is a message, not a
    traceback (exit status 1)."""
    try:
        return command.run(settings, args)
    except (OSError, SQLAlchemyError) as exc:
        cause = getattr(exc, "orig", None) or exc
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        print(f"{name} {command.name}: failed: {reason}", file=sys.stderr)
        return 1


def serve(create_app: Callable[[SettingsT], FastAPI], settings: SettingsT, *, name: str) -> None:
    """Serve ``create_app(settings)`` under uvicorn until SIGINT or SIGTERM.

    With ``settings.server.workers`` above 1, that many processes share the
    listening socket, each building its own app (and so its own pools) from the
    same environment; the supervisor restarts one that dies, and SIGHUP replaces
    them all. SIGTERM drains: requests in flight finish (10 s at most), then each
    lifespan closes its pools. A lifespan that cannot start exits with status 3.
    """
    options: dict[str, Any] = {
        "host": settings.server.host,
        "port": settings.server.port,
        "lifespan": "on",
        "log_config": None,
        "access_log": False,
        "server_header": False,
        # ServiceMiddleware reads X-Forwarded-* from SVC_TRUSTED_PROXIES itself.
        "proxy_headers": False,
        "timeout_graceful_shutdown": _GRACEFUL_SHUTDOWN_SECONDS,
    }
    if settings.server.workers == 1:
        server = uvicorn.Server(uvicorn.Config(create_app(settings), **options))
        server.run()
        if not server.started:
            raise SystemExit(_STARTUP_FAILED)
        return
    spec = {
        "name": name,
        "create_app": _reference(create_app),
        "settings": _reference(type(settings)),
    }
    os.environ[_WORKER_APP] = orjson.dumps(spec).decode()
    # The supervisor's own lines (workers started, stopped) in the service's format.
    configure_logging(level=settings.log.level, format=settings.log.format, service=name)
    config = uvicorn.Config(
        f"{__name__}:worker_app", factory=True, workers=settings.server.workers, **options
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()


def worker_app() -> FastAPI:
    """The app of one of `serve`'s worker processes, from what `serve` left in the environment."""
    spec = orjson.loads(os.environ[_WORKER_APP])
    create_app = _resolve(spec["create_app"])
    settings = load_settings(_resolve(spec["settings"]), service=spec["name"])
    app: FastAPI = create_app(settings)
    return app


def _reference(obj: Any) -> str:
    """``module:name`` of a module-level function or class, checked to lead back to it."""
    reference = f"{obj.__module__}:{obj.__qualname__}"
    if _resolve(reference) is not obj:
        raise TypeError(f"{reference} is not importable: serve's workers need a module-level one")
    return reference


def _resolve(reference: str) -> Any:
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name, None)
