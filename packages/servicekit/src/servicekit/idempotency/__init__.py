"""Idempotency keys on create routes (draft-ietf-httpapi-idempotency-key-header).

- `idempotency_table`: the ``idempotency_keys`` table, in a service's own metadata;
- `Idempotency`: ``await idempotency.run(respond)`` around a create route's work;
- `StoredResponse`: what is kept of the first response (status, headers, body);
- `fingerprint_of`: what makes two requests the same (method, path, body);
- `advisory_lock_id`: the lock a running request holds for its key.

The key lives in PostgreSQL, not Redis: it is written in the request's own
transaction, so a crash cannot leave an item without its key or a key without its
item. A retry in flight is detected with a transaction-scoped advisory lock, so it
never waits for the first to finish.
"""

from servicekit.idempotency._keys import (
    Idempotency,
    StoredResponse,
    advisory_lock_id,
    fingerprint_of,
)
from servicekit.idempotency._table import idempotency_table

__all__ = [
    "Idempotency",
    "StoredResponse",
    "advisory_lock_id",
    "fingerprint_of",
    "idempotency_table",
]
