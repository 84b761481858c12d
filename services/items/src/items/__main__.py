"""``python -m items serve|migrate|revision``."""

from __future__ import annotations

from pathlib import Path

from items.main import create_app
from items.settings import ItemsSettings
from servicekit.cli import run_service_cli

# The revisions live beside the package's source tree: services/items/migrations.
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def main() -> None:
    """Run the items command line."""
    run_service_cli(
        name="items", settings_cls=ItemsSettings, create_app=create_app, migrations=MIGRATIONS
    )


if __name__ == "__main__":
    main()
