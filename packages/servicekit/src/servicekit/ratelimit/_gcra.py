"""The Generic Cell Rate Algorithm: one number per client, no overshoot, no window edge.

A policy of ``quota`` per ``window`` admits a request every ``window / quota`` (the
emission interval) on average, and a burst of up to ``quota`` at once. The only state
is the theoretical arrival time (TAT): when the client's bucket would be empty again
if it stopped now. A request at ``now`` is admitted when ``max(TAT, now) + interval``
is at most ``now + window``; then that is the new TAT. Everything a client is told
follows from it: what remains, when the quota is whole again, how long to wait.

The Redis script (`_scripts.py`) is this function in Lua; this one is the local
limiter's, when Redis cannot be reached, and the tests' model.
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

__all__ = ["Decision", "gcra"]

_SLACK: Final = 1e-3
"""Of one request, forgiven to rounding: times are absolute (seconds since 1970 here,
milliseconds in Redis), so a double holds them to about 0.25 µs, which for a quota of
100,000 a minute is 4e-4 of a request's interval."""


class Decision(NamedTuple):
    """What a limiter decided for one request (a tuple: made on every request, it is
    four times cheaper to build than a frozen dataclass)."""

    allowed: bool
    remaining: int
    """Requests the client may still send at once."""
    reset: int
    """Seconds until the whole quota is available again."""
    retry_after: int
    """Seconds to wait before the next request can be admitted (0 when allowed)."""


def gcra(tat: float, now: float, *, quota: int, window: float) -> tuple[Decision, float]:
    """The decision for a request at ``now`` and the TAT to store (unchanged if refused)."""
    interval = window / quota
    start = max(tat, now)
    new_tat = start + interval
    if new_tat - now > window + _SLACK * interval:
        wait = new_tat - now - window
        decision = Decision(
            allowed=False,
            remaining=0,
            reset=math.ceil(start - now),
            retry_after=max(1, math.ceil(wait)),
        )
        return decision, tat
    remaining = int((window - (new_tat - now)) / interval + _SLACK)
    return Decision(
        allowed=True, remaining=remaining, reset=math.ceil(new_tat - now), retry_after=0
    ), new_tat
