"""The Redis side of the cache: one hash per entry, its value and its generation.

The generation closes the race between a read that fills the cache and a write that
invalidates it: a reader notes the generation when it misses, and its fill is taken
only if no invalidation has moved it on meanwhile; the value it read may be older
than the write.
"""

from __future__ import annotations

from typing import Final

from servicekit.redis import LuaFunction

__all__ = ["FILL", "INVALIDATE", "READ"]

READ: Final = LuaFunction(
    "cache_read",
    """
-- keys: the entry, its load lock. args: the lock's lifetime (ms).
-- A hit: {1, value}. A miss: {0, generation, 1 if this caller holds the load lock}.
local entry = redis.call('HMGET', keys[1], 'v', 'g')
if entry[1] then
  return {1, entry[1]}
end
local locked = redis.call('SET', keys[2], '1', 'NX', 'PX', args[1])
return {0, entry[2] or '0', locked and 1 or 0}
""",
)

FILL: Final = """
-- KEYS: the entry, its load lock. ARGV: the generation seen at the miss, the value,
-- its lifetime (ms). Stores the value only if nothing invalidated the entry since.
redis.call('DEL', KEYS[2])
local generation = redis.call('HGET', KEYS[1], 'g') or '0'
if generation ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'g', generation)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

INVALIDATE: Final = """
-- KEYS: the entry. ARGV: how long (ms) the new generation is kept, so that a fill
-- started before this call is refused.
redis.call('HDEL', KEYS[1], 'v')
redis.call('HINCRBY', KEYS[1], 'g', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""
