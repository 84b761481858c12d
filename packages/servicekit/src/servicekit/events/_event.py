"""The event envelope: what a service says happened, as it travels."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from servicekit.ids import uuid7

__all__ = ["SCHEMA_VERSION", "Event", "MalformedEvent"]

SCHEMA_VERSION: Final = 1
"""The envelope's own version: a consumer can tell an envelope it does not know."""


class MalformedEvent(ValueError):
    """A stream entry that is not an event this library wrote (a poison message)."""


@dataclass(frozen=True, slots=True)
class Event:
    """``{"id", "type", "occurred_at", "data"}``, with the envelope's schema version and the
    trace context of the request that caused it (empty until tracing exists)."""

    type: str
    data: Mapping[str, Any]
    id: uuid.UUID = field(default_factory=uuid7)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    schema_version: int = SCHEMA_VERSION
    trace: Mapping[str, str] = field(default_factory=dict)

    def envelope(self) -> dict[str, Any]:
        """The envelope as JSON-ready values."""
        return {
            "id": str(self.id),
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat().replace("+00:00", "Z"),
            "data": dict(self.data),
            "schema_version": self.schema_version,
            "trace": dict(self.trace),
        }

    def encode(self) -> bytes:
        """The envelope as JSON bytes: a stream entry's ``event`` field."""
        return orjson.dumps(self.envelope())

    @classmethod
    def decode(cls, raw: bytes | str) -> Event:
        """The event of a stream entry's ``event`` field; `MalformedEvent` if it is none."""
        try:
            envelope = orjson.loads(raw)
            occurred_at = datetime.fromisoformat(envelope["occurred_at"].replace("Z", "+00:00"))
            return cls(
                type=str(envelope["type"]),
                data=dict(envelope["data"]),
                id=uuid.UUID(envelope["id"]),
                occurred_at=occurred_at,
                schema_version=int(envelope.get("schema_version", SCHEMA_VERSION)),
                trace=dict(envelope.get("trace") or {}),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedEvent(f"not an event envelope: {exc}") from None
