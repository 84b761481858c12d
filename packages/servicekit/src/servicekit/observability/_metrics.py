"""Prometheus metrics of one app (requests, latency, the database pool) and ``/metrics``.

Each app owns its registry, so several apps in one process (tests) never share
or collide on metrics. Later features (cache, rate limits, events) add their
metrics to the same registry.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from starlette.responses import Response

from servicekit.cache import ResponseCache
from servicekit.ratelimit import RateLimiter
from servicekit.redis import ScriptBatcher

__all__ = ["Metrics", "ScrapedCollector", "metrics_router"]

_NO_STORE = {"Cache-Control": "no-store"}
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ScrapedCollector(Collector, Protocol):
    """A collector whose values are read (awaited) when ``/metrics`` is scraped."""

    async def refresh(self) -> None:
        """Read the values the next ``collect`` yields."""
        ...


class Metrics:
    """The metrics registry of one app and the instruments every service has."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "http_requests_total",
            "HTTP requests handled, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "http_request_duration_seconds",
            "Time from request start to response end, by method, route template and status.",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        # `labels()` takes a lock and builds a key on every call; requests repeat
        # a small set of label values, so keep the children.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._collectors: list[Collector] = []
        self._scraped: list[ScrapedCollector] = []

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request and its duration (unless metrics are off)."""
        if not self.enabled:
            return
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            labels = (method, route, str(status))
            children = (self._requests.labels(*labels), self._latency.labels(*labels))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def watch(
        self,
        engine: AsyncEngine,
        scripts: ScriptBatcher,
        limiter: RateLimiter,
        cache: ResponseCache,
        *,
        scraped: Sequence[ScrapedCollector] = (),
    ) -> None:
        """Expose the pool of ``engine``, the counts of ``scripts``, ``limiter`` and
        ``cache``, and ``scraped`` collectors, refreshed before each scrape (replacing
        earlier ones)."""
        self.unwatch()
        self._scraped = list(scraped)
        self._collectors = [
            _PoolCollector(engine),
            _RedisCollector(scripts),
            _RateLimitCollector(limiter),
            _CacheCollector(cache),
            *self._scraped,
        ]
        for collector in self._collectors:
            self.registry.register(collector)

    def unwatch(self) -> None:
        """Stop exposing the pool, the limiter and the cache (at shutdown)."""
        for collector in self._collectors:
            self.registry.unregister(collector)
        self._collectors = []
        self._scraped = []

    async def refresh(self) -> None:
        """Let the collectors that read their values at scrape time read them."""
        for collector in self._scraped:
            await collector.refresh()

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)


def metrics_router(metrics: Metrics) -> APIRouter:
    """``GET /metrics`` in the Prometheus text format."""
    router = APIRouter(tags=["observability"])

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Metrics."}},
    )
    async def get_metrics() -> Response:
        await metrics.refresh()
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST, headers=_NO_STORE)

    return router


class _PoolCollector(Collector):
    """Reads the pool's counters at scrape time; nothing to update per request."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        pool = self._engine.sync_engine.pool
        if not isinstance(pool, QueuePool):
            return
        size = GaugeMetricFamily("db_pool_size", "Configured size of the connection pool.")
        size.add_metric([], pool.size())
        connections = GaugeMetricFamily(
            "db_pool_connections",
            "Open connections of the pool, by state (idle in the pool or checked out).",
            labels=["state"],
        )
        connections.add_metric(["idle"], pool.checkedin())
        connections.add_metric(["checked_out"], pool.checkedout())
        overflow = GaugeMetricFamily(
            "db_pool_overflow", "Connections open beyond the pool size (negative: room left)."
        )
        overflow.add_metric([], pool.overflow())
        yield size
        yield connections
        yield overflow


class _RedisCollector(Collector):
    """The round trips of the request path's Redis scripts, read at scrape time."""

    def __init__(self, scripts: ScriptBatcher) -> None:
        self._scripts = scripts

    def collect(self) -> Iterator[Metric]:
        batches = CounterMetricFamily(
            "redis_script_batches",
            "Round trips to Redis for the request path's scripts (one pipeline each).",
        )
        batches.add_metric([], self._scripts.batches)
        calls = CounterMetricFamily(
            "redis_scripts", "Scripts sent to Redis for the request path (rate limits, cache)."
        )
        calls.add_metric([], self._scripts.calls)
        yield batches
        yield calls


class _RateLimitCollector(Collector):
    """The limiter's refusals and local decisions, read at scrape time."""

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    def collect(self) -> Iterator[Metric]:
        refused = CounterMetricFamily(
            "rate_limit_refused",
            "Requests refused with 429, by rate-limit policy.",
            labels=["policy"],
        )
        for policy, count in sorted(self._limiter.refused.items()):
            refused.add_metric([policy], count)
        local = CounterMetricFamily(
            "rate_limit_local_decisions",
            "Rate-limit decisions made in-process because Redis could not be asked.",
        )
        local.add_metric([], self._limiter.fallbacks)
        yield refused
        yield local


_CACHE_COUNTERS = (
    ("hit", "cache_hits", "Responses served from the cache."),
    ("miss", "cache_misses", "Responses loaded from the database and cached."),
    ("error", "cache_errors", "Cache calls that failed or were skipped: Redis away."),
    (
        "stampede_wait",
        "cache_stampede_waits",
        "Requests that waited for another's load of the same key instead of loading it.",
    ),
    (
        "stale_fill_refused",
        "cache_stale_fills_refused",
        "Loads not cached because a write invalidated the key meanwhile.",
    ),
)


class _CacheCollector(Collector):
    """The cache's counts, read at scrape time."""

    def __init__(self, cache: ResponseCache) -> None:
        self._cache = cache

    def collect(self) -> Iterator[Metric]:
        for count, name, documentation in _CACHE_COUNTERS:
            family = CounterMetricFamily(name, documentation)
            family.add_metric([], self._cache.counts[count])
            yield family
