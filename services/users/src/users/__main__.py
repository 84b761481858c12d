"""``python -m users serve|migrate|revision|worker|dead-letters|create-admin|…``."""

from __future__ import annotations

from servicekit.cli import run_service_cli
from users.commands import COMMANDS
from users.events import EVENTS
from users.main import create_app
from users.models import MIGRATIONS
from users.settings import UsersSettings


def main() -> None:
    run_service_cli(
        name="users",
        settings_cls=UsersSettings,
        create_app=create_app,
        migrations=MIGRATIONS,
        commands=COMMANDS,
        events=EVENTS,
    )


if __name__ == "__main__":
    main()
