"""Events between services: a transactional outbox, Redis Streams, consumer groups.

What is guaranteed: every committed change that `emit` recorded is published, at least
once, and applied once in effect by each consumer group; a rolled-back change publishes
nothing; an event no handler can apply is set aside with its error, not lost, and the
events after it flow on. What is not: exactly-once delivery (a consumer sees duplicates
after a crash and skips them), and a global order (the stream follows the order events
were written; a consumer compares versions where order matters).

- `emit`: an event into the service's outbox, in the request's unit of work;
- `outbox_table`, `processed_events_table`, `notify_trigger`: the tables (and the
  trigger) a service's models and migrations declare;
- `ServiceEvents`: what a service writes (its stream) and applies (`Subscription`\\ s of
  `Handler`\\ s, each given a `Delivery`);
- `EventWorker`: the worker process (``python -m <service> worker``): the `Relay` of the
  outbox to the stream and a `Consumer` per subscription;
- `dead_letters`, `replay_dead_letters`, `trim_acknowledged`: streams, looked after;
- `EventMetrics`: the outbox's backlog, streams' lag and dead letters, handlers' work;
- `Event`: the envelope ``{"id", "type", "occurred_at", "data"}`` (with its schema
  version and trace context).
"""

from servicekit.events._consumer import Consumer, Delivery, Handler, Subscription
from servicekit.events._emit import emit
from servicekit.events._event import Event, MalformedEvent
from servicekit.events._metrics import EventMetrics
from servicekit.events._relay import Relay
from servicekit.events._streams import (
    DeadLetter,
    dead_letter_stream,
    dead_letters,
    replay_dead_letters,
    trim_acknowledged,
)
from servicekit.events._tables import (
    NOTIFY_CHANNEL,
    notify_trigger,
    outbox_table,
    processed_events_table,
)
from servicekit.events._worker import EventWorker, ServiceEvents

__all__ = [
    "NOTIFY_CHANNEL",
    "Consumer",
    "DeadLetter",
    "Delivery",
    "Event",
    "EventMetrics",
    "EventWorker",
    "Handler",
    "MalformedEvent",
    "Relay",
    "ServiceEvents",
    "Subscription",
    "dead_letter_stream",
    "dead_letters",
    "emit",
    "notify_trigger",
    "outbox_table",
    "processed_events_table",
    "replay_dead_letters",
    "trim_acknowledged",
]
