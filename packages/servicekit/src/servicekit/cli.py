"""The command line every service has: ``python -m <service> serve|migrate|revision``.

A service's ``__main__.py`` is one call::

    run_service_cli(name="items", settings_cls=ItemsSettings, create_app=create_app,
                    migrations=MIGRATIONS)

Settings are read once, before anything starts; a bad value stops the command
with exit status 2 and a message that names each offending variable.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from servicekit.db import Migrations
from servicekit.settings import ServiceSettings, SettingsError, load_settings

__all__ = ["run_service_cli", "serve"]

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def run_service_cli(
    *,
    name: str,
    settings_cls: type[SettingsT],
    create_app: Callable[[SettingsT], FastAPI],
    migrations: Migrations,
    argv: Sequence[str] | None = None,
) -> None:
    """Parse the command line and run the command."""
    parser = argparse.ArgumentParser(prog=f"python -m {name}", description=f"The {name} service.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("serve", help="run the HTTP server (host and port from settings)")
    commands.add_parser("migrate", help="apply the database migrations up to the latest")
    revision = commands.add_parser(
        "revision", help="write a new migration, compared against a database at head"
    )
    revision.add_argument("-m", "--message", required=True, help="what the migration does")
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
    else:
        serve(create_app(settings), settings)


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run ``app`` under uvicorn until SIGINT/SIGTERM, then shut down gracefully."""
    proxies = list(settings.http.trusted_proxies)
    config = uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        # X-Forwarded-For / -Proto are believed only from configured proxies.
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()
