"""`ServiceEvents` (what a service writes and reads) and `EventWorker` (the process that
moves them): the relay of its outbox and a consumer per subscription."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Table

from servicekit.cache import ResponseCache
from servicekit.db import open_database
from servicekit.events._consumer import Consumer, Subscription
from servicekit.events._relay import Relay
from servicekit.redis import ScriptBatcher, open_redis
from servicekit.settings import ServiceSettings

__all__ = ["EventWorker", "ServiceEvents"]

_log = structlog.get_logger("servicekit.events")


@dataclass(frozen=True)
class ServiceEvents:
    """The events of a service: where it writes its own, and what it applies of others'.

    ``stream`` receives what ``outbox`` holds (``users.events``); each subscription is
    applied by the consumer group named after the service, recorded in ``processed``.
    """

    stream: str
    outbox: Table
    processed: Table | None = None
    subscriptions: Sequence[Subscription] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.subscriptions and self.processed is None:
            raise ValueError("a service that applies events needs its processed-events table")


class EventWorker:
    """The worker process of the service ``name``: its relay and its consumers, until
    SIGTERM or SIGINT (the event being applied is finished and acknowledged first)."""

    def __init__(self, settings: ServiceSettings, *, name: str, events: ServiceEvents) -> None:
        self.settings = settings
        self.name = name
        self.events = events

    def serve(self) -> None:
        """Run until SIGTERM or SIGINT."""
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.run(stop)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay and consume until ``stop`` is set."""
        settings = self.settings
        process = f"{self.name}-worker"
        async with (
            open_database(settings.database, application_name=process) as database,
            open_redis(settings.redis, client_name=process) as redis,
            ScriptBatcher(redis) as scripts,
        ):
            cache = ResponseCache.configured(scripts, settings.cache, service=self.name)
            work = [
                Relay(
                    database,
                    redis,
                    outbox=self.events.outbox,
                    stream=self.events.stream,
                    settings=settings.events,
                ).run(stop)
            ]
            if self.events.processed is not None:
                work += [
                    Consumer(
                        database,
                        redis,
                        cache,
                        subscription=subscription,
                        group=self.name,
                        processed=self.events.processed,
                        settings=settings.events,
                    ).run(stop)
                    for subscription in self.events.subscriptions
                ]
            _log.info(
                "worker_started",
                stream=self.events.stream,
                subscriptions=[s.stream for s in self.events.subscriptions],
            )
            tasks = [asyncio.create_task(coroutine) for coroutine in work]
            try:
                await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            _log.info("worker_stopped")
