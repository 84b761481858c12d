"""The tables of events in a service's database: its outbox and what it has consumed.

A service declares both in its models (``outbox_table(Base.metadata)``) so that its
migrations create them; `notify_trigger` is the SQL its migration adds so that a commit
wakes the relay at once.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    SmallInteger,
    String,
    Table,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = ["NOTIFY_CHANNEL", "notify_trigger", "outbox_table", "processed_events_table"]

NOTIFY_CHANNEL: Final = "servicekit_outbox"
"""What a commit that wrote to the outbox notifies (per database): the relay listens."""


def outbox_table(metadata: MetaData, *, name: str = "outbox") -> Table:
    """The outbox: events written in the transaction of the change they describe, until
    the relay has published them (and for a retention period after)."""
    table = Table(
        name,
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("type", String(100), nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("data", JSONB, nullable=False),
        Column("schema_version", SmallInteger, nullable=False),
        Column("trace", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
    )
    Index(
        f"ix_{name}_unpublished",
        table.c.id,
        postgresql_where=table.c.published_at.is_(None),
    )
    Index(f"ix_{name}_published_at", table.c.published_at)
    return table


def processed_events_table(metadata: MetaData, *, name: str = "processed_events") -> Table:
    """The events each consumer has applied, written in the transaction that applied
    them: a redelivered event finds its row and changes nothing."""
    return Table(
        name,
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", Uuid, primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index(f"ix_{name}_processed_at", "processed_at"),
    )


def notify_trigger(table: str = "outbox") -> tuple[list[str], list[str]]:
    """The SQL statements that make every insert into ``table`` notify `NOTIFY_CHANNEL`
    at commit (once per statement; NOTIFY is transactional), and those that remove it:
    for the service's migration's ``upgrade`` and ``downgrade``, one ``op.execute`` each."""
    function = f"{table}_notify"
    create = [
        f"""CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('{NOTIFY_CHANNEL}', '');
  RETURN NULL;
END $$""",
        f"CREATE TRIGGER {function} AFTER INSERT ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
    ]
    drop = [
        f"DROP TRIGGER IF EXISTS {function} ON {table}",
        f"DROP FUNCTION IF EXISTS {function}()",
    ]
    return create, drop
