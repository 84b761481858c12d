"""`EventMetrics`: the outbox, the streams and the consumers, as ``/metrics`` shows them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select

from servicekit.db import Database, Query
from servicekit.events._consumer import stats_key
from servicekit.events._streams import dead_letter_stream, groups_of
from servicekit.events._worker import ServiceEvents

__all__ = ["EventMetrics"]

_log = structlog.get_logger("servicekit.events")
_COUNTS = (
    ("handled", "events_handled", "Events applied by the service's consumer group."),
    ("failed", "events_handler_failures", "Deliveries whose handler raised (retried later)."),
    ("dead_lettered", "events_dead_lettered", "Events moved to the dead letters by the group."),
)


class EventMetrics(Collector):
    """Read at each scrape (`refresh`, awaited first): the outbox's backlog and the age of
    its oldest unpublished event; each stream's groups' lag and pending entries and its
    dead letters; what the service's consumers did (counted in Redis by its workers, so
    the API shows the whole group's work)."""

    def __init__(
        self, database: Database, redis: Redis, events: ServiceEvents, *, group: str
    ) -> None:
        self.database = database
        self.redis = redis
        self.events = events
        self.group = group
        self._backlog = Query(
            select(func.count(), func.min(events.outbox.c.created_at)).where(
                events.outbox.c.published_at.is_(None)
            )
        )
        self._families: list[Metric] = []

    async def refresh(self) -> None:
        """Read everything now (what cannot be read is left out, never an error)."""
        families: list[Metric] = []
        try:
            families += await self._outbox()
        except (OSError, asyncpg.PostgresError) as exc:
            _log.warning("event_metrics_unread", part="outbox", error=str(exc))
        try:
            families += await self._streams()
        except (RedisError, OSError, TimeoutError) as exc:
            _log.warning("event_metrics_unread", part="streams", error=str(exc))
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families

    async def _outbox(self) -> list[Metric]:
        row = await self.database.reader.one(self._backlog)
        count, oldest = (row[0], row[1]) if row else (0, None)
        backlog = GaugeMetricFamily(
            "events_outbox_backlog", "Events in the outbox not yet published."
        )
        backlog.add_metric([], count)
        age = GaugeMetricFamily(
            "events_outbox_oldest_seconds", "Age of the oldest unpublished event (0 when none)."
        )
        age.add_metric([], max(0.0, time.time() - oldest.timestamp()) if oldest else 0.0)
        return [backlog, age]

    async def _streams(self) -> list[Metric]:
        streams = [self.events.stream, *(s.stream for s in self.events.subscriptions)]
        lag = GaugeMetricFamily(
            "events_stream_lag",
            "Entries not yet delivered to a consumer group.",
            labels=["stream", "group"],
        )
        pending = GaugeMetricFamily(
            "events_stream_pending",
            "Entries delivered to a consumer group and not yet acknowledged.",
            labels=["stream", "group"],
        )
        dead = GaugeMetricFamily(
            "events_dead_letters", "Events in a stream's dead letters.", labels=["stream"]
        )
        counters = {
            name: CounterMetricFamily(metric, documentation, labels=["stream", "group"])
            for name, metric, documentation in _COUNTS
        }
        seconds = CounterMetricFamily(
            "events_handler_seconds", "Time spent applying events.", labels=["stream", "group"]
        )
        for stream in dict.fromkeys(streams):
            for group in await groups_of(self.redis, stream):
                lag.add_metric([stream, group.name], group.lag)
                pending.add_metric([stream, group.name], group.pending)
            dead.add_metric([stream], await self.redis.xlen(dead_letter_stream(stream)))
        for subscription in self.events.subscriptions:
            stats: dict[Any, Any] = await self.redis.hgetall(
                stats_key(subscription.stream, self.group)
            )
            found = {_text(k): float(v) for k, v in stats.items()}
            for name, family in counters.items():
                family.add_metric([subscription.stream, self.group], found.get(name, 0.0))
            seconds.add_metric([subscription.stream, self.group], found.get("seconds", 0.0))
        return [lag, pending, dead, *counters.values(), seconds]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
