"""Redis on the request path: one client per process, scripts batched, outages noticed.

- `create_redis` / `open_redis`: the process's client (one connection pool), bytes in
  and out, with connect and read timeouts so that an unreachable Redis costs a request
  a bounded wait, never a hang;
- `ScriptBatcher`: the Lua scripts of concurrent requests in one round trip;
- `LuaFunction` and `LuaCall`: a function that runs alone or inside another script
  (`chained`), so that a request's questions to Redis are one script, not several;
- `Outage`: how a feature that can do without Redis notices it is gone;
- `refuse_eviction`: start-up's check that Redis never evicts what must not be lost.
"""

from servicekit.redis._batcher import ScriptBatcher
from servicekit.redis._client import Redis, create_redis, open_redis
from servicekit.redis._eviction import RedisEvicts, refuse_eviction
from servicekit.redis._lua import LuaCall, LuaFunction, chained, chained_arguments
from servicekit.redis._outage import Outage

__all__ = [
    "LuaCall",
    "LuaFunction",
    "Outage",
    "Redis",
    "RedisEvicts",
    "ScriptBatcher",
    "chained",
    "chained_arguments",
    "create_redis",
    "open_redis",
    "refuse_eviction",
]
