"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from items.models import metadata
from servicekit.testing import TestDatabase, schema_drift


async def test_the_models_match_the_migrated_database(test_database: TestDatabase) -> None:
    drift = await schema_drift(
        test_database.engine, metadata, version_table="items_alembic_version"
    )

    assert drift == []
