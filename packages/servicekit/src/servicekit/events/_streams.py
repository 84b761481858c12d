"""Streams as consumers leave them: safe trimming, dead letters, what the metrics show."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

__all__ = [
    "DeadLetter",
    "GroupState",
    "dead_letter_stream",
    "dead_letters",
    "groups_of",
    "replay_dead_letters",
    "trim_acknowledged",
]


def dead_letter_stream(stream: str) -> str:
    """Where the events of ``stream`` that no handler could apply go."""
    return f"{stream}.dead"


@dataclass(frozen=True)
class DeadLetter:
    """An event a consumer group gave up on, and why."""

    id: str
    """Its entry in the dead-letter stream (what `replay_dead_letters` takes)."""
    type: str
    group: str
    error: str
    deliveries: int
    original_id: str
    event: bytes


@dataclass(frozen=True)
class GroupState:
    """A consumer group of a stream, as the metrics show it."""

    name: str
    lag: int
    """Entries not yet delivered to the group."""
    pending: int
    """Entries delivered but not acknowledged."""


async def groups_of(redis: Redis, stream: str) -> list[GroupState]:
    """The consumer groups of ``stream`` (none if it does not exist)."""
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:  # no such stream yet
        return []
    return [
        GroupState(
            name=_text(group["name"]),
            lag=int(group.get("lag") or 0),
            pending=int(group.get("pending") or 0),
        )
        for group in groups
    ]


async def trim_acknowledged(redis: Redis, stream: str, *, older_than: timedelta) -> int:
    """Delete the entries of ``stream`` older than ``older_than`` that every consumer
    group has acknowledged; how many. An entry still pending, or not yet delivered, to
    any group stays, however old."""
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:
        return 0
    horizon = (int((time.time() - older_than.total_seconds()) * 1000), 0)
    keep_from = horizon
    for group in groups:
        name = _text(group["name"])
        delivered = _stream_id(_text(group["last-delivered-id"]))
        keep_from = min(keep_from, (delivered[0], delivered[1] + 1))
        if int(group.get("pending") or 0):
            summary = await redis.xpending(stream, name)
            keep_from = min(keep_from, _stream_id(_text(summary["min"])))
    return int(await redis.xtrim(stream, minid=f"{keep_from[0]}-{keep_from[1]}", approximate=False))


async def dead_letters(redis: Redis, stream: str, *, count: int = 1000) -> list[DeadLetter]:
    """The events of ``stream`` in its dead-letter stream, oldest first."""
    entries = await redis.xrange(dead_letter_stream(stream), count=count) or []
    return [_dead_letter(entry_id, fields or {}) for entry_id, fields in entries]


async def replay_dead_letters(redis: Redis, stream: str, ids: list[str] | None = None) -> int:
    """Put dead letters (those of ``ids``, or all) back on ``stream`` for every group to
    try again (a group that applied one already skips it); how many."""
    letters = await dead_letters(redis, stream, count=100_000)
    chosen = [letter for letter in letters if ids is None or letter.id in ids]
    for letter in chosen:
        async with redis.pipeline(transaction=True) as pipeline:
            pipeline.xadd(stream, {"type": letter.type, "event": letter.event})
            pipeline.xdel(dead_letter_stream(stream), letter.id)
            await pipeline.execute()
    return len(chosen)


def _dead_letter(entry_id: Any, fields: dict[Any, Any]) -> DeadLetter:
    found = {_text(name): value for name, value in fields.items()}
    return DeadLetter(
        id=_text(entry_id),
        type=_text(found.get("type", b"")),
        group=_text(found.get("group", b"")),
        error=_text(found.get("error", b"")),
        deliveries=int(found.get("deliveries", 0)),
        original_id=_text(found.get("original_id", b"")),
        event=found.get("event", b"") if isinstance(found.get("event"), bytes) else b"",
    )


def _stream_id(text: str) -> tuple[int, int]:
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
