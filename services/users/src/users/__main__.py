"""``python -m users serve|migrate|revision``."""

from __future__ import annotations

from pathlib import Path

from servicekit.cli import run_service_cli
from users.main import create_app
from users.settings import UsersSettings

# The revisions live beside the package's source tree: services/users/migrations.
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def main() -> None:
    """Run the users command line."""
    run_service_cli(
        name="users", settings_cls=UsersSettings, create_app=create_app, migrations=MIGRATIONS
    )


if __name__ == "__main__":
    main()
