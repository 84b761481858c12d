"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from items.models import MIGRATIONS
from servicekit.testing import TestDatabase


async def test_the_models_match_the_migrated_database(test_database: TestDatabase) -> None:
    drift = await MIGRATIONS.drift(test_database.engine)

    assert drift == []
