"""The events of the users service: ``user.registered`` and ``user.deleted``."""

from __future__ import annotations

from typing import Final

from servicekit.events import ServiceEvents
from users.database import OUTBOX

__all__ = ["EVENTS"]

EVENTS: Final = ServiceEvents(stream="users.events", outbox=OUTBOX)
"""Users writes ``users.events`` and applies no one else's."""
