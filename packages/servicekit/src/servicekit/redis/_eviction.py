"""`refuse_eviction`: a Redis that may evict keys cannot hold what must not be lost."""

from __future__ import annotations

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

__all__ = ["RedisEvicts", "refuse_eviction"]

_log = structlog.get_logger("servicekit.redis")


class RedisEvicts(RuntimeError):
    """Redis is configured to evict keys under memory pressure; the message says how to fix it."""


async def refuse_eviction(redis: Redis, *, what: str) -> None:
    """Raise `RedisEvicts` if ``redis`` may evict keys (``what`` names what is at stake).

    Eviction is off when ``maxmemory`` is 0 (no limit) or ``maxmemory-policy`` is
    ``noeviction`` (writes then fail when memory is full, and nothing is forgotten
    silently). A Redis that cannot be asked now (down, or ``CONFIG`` disabled by a
    managed service) is logged, not refused: it may be fine, and start-up must not wait.
    """
    try:
        config = await redis.config_get("maxmemory", "maxmemory-policy")
    except ResponseError as exc:
        _log.warning(
            "redis_eviction_unchecked", reason=str(exc), needs="maxmemory-policy noeviction"
        )
        return
    except (RedisError, OSError, TimeoutError) as exc:
        _log.warning(
            "redis_eviction_unchecked",
            reason=str(exc) or type(exc).__name__,
            needs="maxmemory-policy noeviction",
        )
        return
    found = {_text(name): _text(value) for name, value in config.items()}
    limit = found.get("maxmemory", "0")
    policy = found.get("maxmemory-policy", "noeviction")
    if limit != "0" and policy != "noeviction":
        raise RedisEvicts(
            f"Redis evicts keys when full (maxmemory {limit}, maxmemory-policy {policy}), and "
            f"{what} must never be evicted: set `maxmemory-policy noeviction` (or "
            "`maxmemory 0`) on that Redis, or give this service a Redis of its own that does."
        )


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
