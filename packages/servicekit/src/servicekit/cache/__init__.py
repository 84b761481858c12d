"""A read-through cache of ready-to-send responses in Redis, stampede-safe and coherent.

- `ResponseCache`: ``get(kind, id, load)`` and ``invalidate(kind, id)`` (after commit),
  and ``lookup(kind, id)`` (a `Lookup`) for a caller that sends hits itself;
- `CachedResponse`: an ``ETag`` and a body, the bytes a hit sends as they are;
- `representation`: a short digest of a response model's schema, for the ``kind``:
  a release that changes what a response looks like never reads the old bytes.

A hit costs one Redis round trip and no query, no serialisation. Why a generation per
entry rather than a short tombstone or a version in the value: the race it closes
(a read that missed before a write fills the cache after it) is closed for any kind
of resource, whether it has a version column or not, and an invalidation never
blocks reads for a tombstone's lifetime.
"""

from servicekit.cache._cache import CachedResponse, Lookup, ResponseCache, representation

__all__ = ["CachedResponse", "Lookup", "ResponseCache", "representation"]
