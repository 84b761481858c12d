"""The Redis side of the limiter: GCRA as one Lua script, atomic per decision."""

from __future__ import annotations

from typing import Final

__all__ = ["GCRA_SCRIPT", "REFUND_SCRIPT"]

GCRA_SCRIPT: Final = """
-- KEYS[1]: the client's key; ARGV: quota, window (ms).
-- Returns {allowed (0/1), remaining, reset (ms), retry_after (ms)}.
local quota = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local interval = window / quota
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
local start = math.max(tat, now)
local new_tat = start + interval
if new_tat - now > window then
  return {0, 0, start - now, new_tat - now - window}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1000)
return {1, math.floor((window - (new_tat - now)) / interval), math.ceil(new_tat - now), 0}
"""

REFUND_SCRIPT: Final = """
-- KEYS[1]: the client's key; ARGV: quota, window (ms). Gives one request back.
local interval = tonumber(ARGV[2]) / tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then
  return 0
end
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local new_tat = tat - interval
if new_tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1000)
end
return 1
"""
