"""The Redis side of the limiter: GCRA as one Lua script, atomic per call."""

from __future__ import annotations

from typing import Final

from servicekit.redis import LuaFunction

__all__ = ["ADMITTED", "TAKE"]

TAKE: Final = LuaFunction(
    "take",
    """
-- GCRA, for up to `wanted` requests at once (a lease), after giving back `given_back`
-- unused ones of an earlier lease. `wanted` 1 is one request's decision; 0 only gives back.
-- keys[1]: the client's key. args: quota, window (ms), wanted, given_back, linger (ms).
-- The key outlives the client's TAT by `linger`: found, it says the client was busy lately.
-- Returns {granted, remaining, reset (ms), retry_after (ms), found (1 or 0)}. Counts
-- forgive 1e-3 of a request to rounding (absolute milliseconds in a double: ~0.25 µs).
local quota = tonumber(args[1])
local window = tonumber(args[2])
local wanted = tonumber(args[3])
local given_back = tonumber(args[4])
local linger = tonumber(args[5])
local interval = window / quota
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local stored = redis.call('GET', keys[1])
local found = stored and 1 or 0
local tat = math.max(tonumber(stored or now), now)
if given_back > 0 then
  tat = math.max(tat - given_back * interval, now)
end
local granted = math.min(wanted, math.floor((now + window - tat) / interval + 1e-3))
if granted < 1 then
  if given_back > 0 then
    redis.call('SET', keys[1], tostring(tat), 'PX', math.ceil(tat - now) + linger)
  end
  return {0, 0, math.ceil(tat - now), math.ceil(tat + interval - now - window), found}
end
local new_tat = tat + granted * interval
redis.call('SET', keys[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + linger)
local remaining = math.floor((window - (new_tat - now)) / interval + 1e-3)
return {granted, remaining, math.ceil(new_tat - now), 0, found}
""",
)
ADMITTED: Final = "head[1] >= 1"
"""The gate of a script chained after `TAKE`: what follows runs only for an admitted request."""
