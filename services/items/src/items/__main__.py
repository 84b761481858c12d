"""``python -m items serve|migrate|revision|worker|dead-letters``."""

from __future__ import annotations

from items.events import EVENTS
from items.main import create_app
from items.models import MIGRATIONS
from items.settings import ItemsSettings
from servicekit.cli import run_service_cli


def main() -> None:
    run_service_cli(
        name="items",
        settings_cls=ItemsSettings,
        create_app=create_app,
        migrations=MIGRATIONS,
        events=EVENTS,
    )


if __name__ == "__main__":
    main()
