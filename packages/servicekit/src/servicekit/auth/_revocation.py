"""Revoked access tokens: a denylist in Redis that every instance of every service reads.

An access token is refused once its session (``sid``) or the token itself (``iss``,
``jti``) is on the list. The issuer writes the list before it answers a logout, so the
next request anywhere is refused; verifiers check it on every authenticated request,
in the same Redis script as the request's rate limit when that goes to Redis.

The list is a cache of what the issuer keeps in its database, and Redis may lose it (a
restart without persistence, a failover). So it carries a *completeness marker*,
written when the list is whole: without it, no token is trusted (`RevocationUnavailable`)
until the issuer has rebuilt the list from its database (`Revocations.rebuild`). Keys
expire with the last token they can refuse; the marker never does. Redis must not
evict any of them: `servicekit.redis.refuse_eviction` checks that at start-up.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol

import structlog
from redis.exceptions import RedisError

from servicekit.auth._claims import InvalidToken, Principal
from servicekit.redis import LuaCall, LuaFunction, Outage, ScriptBatcher

__all__ = [
    "RevocationSource",
    "RevocationUnavailable",
    "Revocations",
    "Revoked",
    "TokenRevoked",
]

_log = structlog.get_logger("servicekit.auth")

_CHECK: Final = LuaFunction(
    "revocation_check",
    """
-- keys: the list's completeness marker, the session's key, the token's key.
-- -1: the list is not whole (no token may be trusted); 0: not revoked; else revoked.
if redis.call('EXISTS', keys[1]) == 0 then
  return -1
end
return redis.call('EXISTS', keys[2], keys[3])
""",
)
_REVOKE: Final = LuaFunction(
    "revoke",
    """
-- keys: denylist keys. args: for each, the Unix time (ms) it may be forgotten at.
for i, key in ipairs(keys) do
  redis.call('SET', key, '1', 'PXAT', args[i])
end
return #keys
""",
)
_COMPLETE: Final = LuaFunction("revocations_complete", "return redis.call('SET', keys[1], '1')")
_IS_COMPLETE: Final = LuaFunction(
    "revocations_are_complete", "return redis.call('EXISTS', keys[1])"
)
_CHUNK: Final = 1_000
_REPUBLISH_EVERY: Final = 10.0
_RECENT: Final = 60.0
"""Seconds of revocations `Revocations.keep` writes again: far longer than a
transaction between its write to Redis and its commit."""


class TokenRevoked(InvalidToken):
    """The token's session or the token itself was revoked."""

    def __init__(self) -> None:
        super().__init__("token revoked")


class RevocationUnavailable(Exception):
    """Whether the token is revoked cannot be known now (Redis away, the list being
    rebuilt): refuse to trust it for now (fail closed)."""


@dataclass(frozen=True, slots=True)
class Revoked:
    """One entry of the denylist: a session or a token, refused until ``until``."""

    kind: Literal["session", "token"]
    value: str
    """The ``sid`` of a session, the ``jti`` of a token."""
    until: float
    """Unix time after which no token it covers can be valid anyway (their ``exp`` plus
    the leeway): the entry is forgotten then."""


class RevocationSource(Protocol):
    """Where the denylist is kept for good: the issuer's database."""

    async def unexpired(self, *, recorded_since: float | None = None) -> Sequence[Revoked]:
        """Every entry whose ``until`` has not passed (only those recorded since the
        Unix time ``recorded_since``, if given)."""
        ...


class Revocations:
    """The denylist of the access tokens of ``issuer``, in Redis.

    Every service checks it (`check`, then `confirm`); the issuer also writes it
    (`revoke`) and, given its database as ``source``, rebuilds it whenever Redis has
    lost it (`rebuild`, `keep`).
    """

    def __init__(
        self,
        scripts: ScriptBatcher,
        *,
        issuer: str,
        source: RevocationSource | None = None,
    ) -> None:
        self.issuer = issuer
        self.source = source
        self._scripts = scripts
        digest = hashlib.blake2b(issuer.encode(), digest_size=6).hexdigest()
        self._prefix = f"revoked:{digest}:"
        self._marker = self._prefix + "complete"
        self._rebuilding: asyncio.Task[int] | None = None
        self._outage = Outage("revocation")

    def check(self, principal: Principal) -> LuaCall:
        """The Redis call that tells whether ``principal``'s token is revoked, unsent:
        it can ride with the request's other calls (`servicekit.redis.chained`)."""
        return LuaCall(
            _CHECK,
            [
                self._marker,
                self._key("session", principal.session_id),
                self._key("token", principal.token_id),
            ],
            [],
        )

    async def confirm(self, check: LuaCall) -> None:
        """Return if the token of ``check`` may be trusted; else raise `TokenRevoked`, or
        `RevocationUnavailable` when that cannot be known now. Sends ``check`` if
        nobody has."""
        if not check.sent:
            self._scripts.call(check)
        try:
            answer = int(await check.reply)
            if answer < 0 and self.source is not None:
                # The issuer owns the truth: rebuild now, then ask again.
                await self._rebuild_for_request()
                again = LuaCall(check.function, check.keys, check.args)
                self._scripts.call(again)
                answer = int(await again.reply)
        except (RedisError, OSError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise RevocationUnavailable(f"Redis cannot be asked: {reason}") from exc
        if answer < 0:
            raise RevocationUnavailable("the revocation list is being rebuilt")
        if answer:
            raise TokenRevoked

    async def revoke(self, entries: Sequence[Revoked]) -> None:
        """Put ``entries`` on the list; raises if Redis does not take them (the caller
        must then not report the revocation as done). Entries already past are skipped."""
        now = time.time()
        live = [entry for entry in entries if entry.until > now]
        for start in range(0, len(live), _CHUNK):
            chunk = live[start : start + _CHUNK]
            await self._scripts.run(
                _REVOKE.script,
                [self._key(entry.kind, entry.value) for entry in chunk],
                [int(entry.until * 1000) for entry in chunk],
            )

    async def rebuild(self) -> int:
        """Write every unexpired entry of the source to Redis, then mark the list whole;
        how many entries. Concurrent callers share one rebuild."""
        if self._rebuilding is None or self._rebuilding.done():
            self._rebuilding = asyncio.create_task(self._rebuild())
        return await asyncio.shield(self._rebuilding)

    async def keep(self, *, every: float = 1.0) -> None:
        """Run until cancelled: whenever the list is not whole (Redis restarted empty),
        rebuild it from the source; every ``_REPUBLISH_EVERY`` seconds, write again what
        was recorded in the last minute (a revocation committed while Redis could not
        take it, or just after a rebuild read the database). The issuer runs this."""
        republished = time.monotonic()
        while True:
            try:
                if not await self._scripts.run(_IS_COMPLETE.script, [self._marker], []):
                    await self.rebuild()
                if time.monotonic() - republished >= _REPUBLISH_EVERY:
                    recent = await self._source().unexpired(recorded_since=time.time() - _RECENT)
                    await self.revoke(recent)
                    republished = time.monotonic()
                self._outage.answered()
            except (RedisError, OSError, TimeoutError) as exc:
                self._outage.failed(exc, meanwhile="authenticated requests answer 503")
            await asyncio.sleep(every)

    async def _rebuild_for_request(self) -> None:
        try:
            await self.rebuild()
        except (RedisError, OSError, TimeoutError):
            raise
        except Exception as exc:  # the source's database: whatever its driver raises
            _log.exception("revocation_list_rebuild_failed")
            raise RevocationUnavailable("the revocation list cannot be rebuilt now") from exc

    async def _rebuild(self) -> int:
        started = time.monotonic()
        entries = await self._source().unexpired()
        await self.revoke(entries)
        await self._scripts.run(_COMPLETE.script, [self._marker], [])
        _log.warning(
            "revocation_list_rebuilt",
            entries=len(entries),
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        return len(entries)

    def _source(self) -> RevocationSource:
        if self.source is None:
            raise RevocationUnavailable("only the issuer can rebuild the revocation list")
        return self.source

    def _key(self, kind: Literal["session", "token"], value: str) -> str:
        return f"{self._prefix}{'sid' if kind == 'session' else 'jti'}:{value}"

    async def mark_complete(self) -> None:
        """Declare the list whole as it stands (for a test, or a fresh deployment whose
        issuer has revoked nothing yet)."""
        await self._scripts.run(_COMPLETE.script, [self._marker], [])
