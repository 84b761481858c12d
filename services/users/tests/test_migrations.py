"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from servicekit.testing import TestDatabase
from users.models import MIGRATIONS


async def test_the_models_match_the_migrated_database(test_database: TestDatabase) -> None:
    drift = await MIGRATIONS.drift(test_database.engine)

    assert drift == []
