"""`Outage`: whether Redis is taken to be away, for a feature that works on without it."""

from __future__ import annotations

import time

import structlog

__all__ = ["Outage"]

_log = structlog.get_logger("servicekit.redis")


class Outage:
    """Whether Redis is taken to be away, for a feature that works on without it.

    After a failure the feature skips Redis for ``retry_after`` seconds (no request
    pays a timeout meanwhile), then tries again. Logged once when it starts and once
    when it ends, as ``<feature>_redis_unavailable`` and ``<feature>_redis_back``.
    """

    def __init__(self, feature: str, *, retry_after: float = 1.0) -> None:
        self.feature = feature
        self.retry_after = retry_after
        self._until = 0.0

    @property
    def ongoing(self) -> bool:
        """Whether to skip Redis now."""
        return self._until > 0 and time.monotonic() < self._until

    def failed(self, exc: BaseException, *, meanwhile: str) -> None:
        """A call failed with ``exc``; ``meanwhile`` says what the feature does instead."""
        if not self._until:
            _log.warning(
                f"{self.feature}_redis_unavailable",
                error=str(exc) or type(exc).__name__,
                fallback=meanwhile,
            )
        self._until = time.monotonic() + self.retry_after

    def answered(self) -> None:
        """A call succeeded: the outage, if there was one, is over."""
        if self._until:
            self._until = 0.0
            _log.info(f"{self.feature}_redis_back")
