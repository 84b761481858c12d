"""Queries compiled once: their parameters by name, and the defaults SQLAlchemy would compute."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, insert, update
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from servicekit.db import Query

_NOTES = Table(
    "notes",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("body", String),
    Column("revision", Integer, default=1, onupdate=2),
)


class TestQuery:
    def test_an_insert_gets_the_columns_default(self) -> None:
        query = Query(insert(_NOTES).values(body=bindparam("body")))

        compiled = query.compiled(asyncpg_dialect())  # type: ignore[no-untyped-call]

        assert compiled.arguments({"body": "hello"}) == ["hello", 1]

    def test_an_update_gets_the_columns_onupdate(self) -> None:
        query = Query(
            update(_NOTES).where(_NOTES.c.id == bindparam("note_id")).values(body=bindparam("body"))
        )

        compiled = query.compiled(asyncpg_dialect())  # type: ignore[no-untyped-call]

        assert sorted(compiled.arguments({"note_id": 7, "body": "changed"}), key=str) == [
            2,
            7,
            "changed",
        ]

    def test_each_dialect_compiles_once_even_when_they_alternate(self) -> None:
        query = Query(insert(_NOTES).values(body=bindparam("body")))
        first, second = asyncpg_dialect(), asyncpg_dialect()  # type: ignore[no-untyped-call]

        once = query.compiled(first)
        other = query.compiled(second)

        assert other is not once
        assert query.compiled(first) is once
