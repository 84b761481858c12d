"""Lua functions that run alone, or inside another script: one call where there were two.

A request may need several things of Redis at once: its rate limit, its cache entry.
Sent as separate scripts in one pipeline they share a round trip, but each still costs
the process a command to pack and a reply to parse, and costs Redis a script run. A
`LuaFunction` can also run *inside* another script: `chained` writes one script that
runs a leading function and then, if its reply passes a gate (the request was admitted),
the functions of the `LuaCall`\\ s that follow it, and answers all of them in one reply.

A chained script touches keys of different features, so it needs one Redis (with
replicas, if you like), not Redis Cluster, where a script's keys must share a slot.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Final

__all__ = ["LuaCall", "LuaFunction", "chained", "chained_arguments"]

_NAME: Final = re.compile(r"[a-z_][a-z0-9_]*")

Arg = str | int | float | bytes


@dataclass(frozen=True, eq=False)
class LuaFunction:
    """A Lua function ``name(keys, args)`` returning a reply, defined by ``body``.

    ``body`` is the function's statements; ``keys`` and ``args`` are its tables (what
    ``KEYS`` and ``ARGV`` are to a script run alone). Each is a constant, known by its
    identity (hashed on every request that chains it, which is then nearly free).
    """

    name: str
    body: str

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"{self.name!r} is not a Lua function name for a script")

    @cached_property
    def definition(self) -> str:
        """The function as a Lua local, to sit in a script."""
        return f"local function {self.name}(keys, args)\n{self.body.strip()}\nend\n"

    @cached_property
    def script(self) -> str:
        """A script that runs the function alone, on its ``KEYS`` and ``ARGV``."""
        return f"{self.definition}return {self.name}(KEYS, ARGV)\n"


class LuaCall:
    """A call of ``function`` on ``keys`` and ``args``, answered in ``reply``.

    Whoever makes the call sends it: alone (`servicekit.redis.ScriptBatcher.call`) or
    inside another script (`chained`), then settles ``reply`` with what it returned.
    """

    __slots__ = ("args", "function", "keys", "reply", "sent")

    def __init__(self, function: LuaFunction, keys: Sequence[str], args: Sequence[Arg]) -> None:
        self.function = function
        self.keys = keys
        self.args = args
        self.reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sent = False
        """Whether someone has sent it (it must be sent once)."""

    def settle(self, reply: Any) -> None:
        """Answer the call with ``reply`` (an exception fails it)."""
        if self.reply.done():
            return
        if isinstance(reply, BaseException):
            self.reply.set_exception(reply)
        else:
            self.reply.set_result(reply)


def chained(lead: LuaFunction, gate: str, followers: Sequence[LuaFunction]) -> str:
    """A script that runs ``lead``, then, if ``gate`` holds, every follower in turn.

    ``gate`` is a Lua expression on ``lead``'s reply, named ``head`` (``head[1] >= 1``).
    ``KEYS`` are the lead's keys, then each follower's; ``ARGV`` are the lead's
    arguments, then for each follower its key count, its argument count and its
    arguments; the lead's own counts are the first two ``ARGV``. The reply is
    ``{head}`` when the gate is shut, else ``{head, reply of follower 1, …}``.
    """
    return _chained(lead, gate, tuple(followers))


@lru_cache(maxsize=64)
def _chained(lead: LuaFunction, gate: str, followers: tuple[LuaFunction, ...]) -> str:
    functions = {f.name: f for f in (lead, *followers)}
    order = ", ".join(f.name for f in followers)
    return (
        "".join(f.definition for f in functions.values())
        + f"""
local k, a = tonumber(ARGV[1]), tonumber(ARGV[2])
local head = {lead.name}({{unpack(KEYS, 1, k)}}, {{unpack(ARGV, 3, a + 2)}})
if not ({gate}) then
  return {{head}}
end
local replies = {{head}}
k, a = k + 1, a + 3
for i, follower in ipairs({{{order}}}) do
  local nk, na = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  a = a + 2
  replies[i + 1] = follower({{unpack(KEYS, k, k + nk - 1)}}, {{unpack(ARGV, a, a + na - 1)}})
  k, a = k + nk, a + na
end
return replies
"""
    )


def chained_arguments(
    lead_keys: Sequence[str], lead_args: Sequence[Arg], calls: Sequence[LuaCall]
) -> tuple[list[str], list[Arg]]:
    """The ``KEYS`` and ``ARGV`` of a `chained` script for the lead's and ``calls``' own."""
    keys = [*lead_keys]
    args: list[Arg] = [len(lead_keys), len(lead_args), *lead_args]
    for call in calls:
        keys += call.keys
        args.append(len(call.keys))
        args.append(len(call.args))
        args += call.args
    return keys, args
