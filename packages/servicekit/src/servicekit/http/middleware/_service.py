"""`ServiceMiddleware`: everything a service does around every request, in one layer."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from typing import Final

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.typing import FilteringBoundLogger

from servicekit.cache import Lookup
from servicekit.errors import AppError, BadRequest, RateLimited
from servicekit.http._context import request_id_var
from servicekit.http._credentials import CREDENTIALS_KEY, bearer_token, read_credentials
from servicekit.http._problems import WrappedAppError, problem_response
from servicekit.http.middleware._body_limit import counting, too_large
from servicekit.http.middleware._cached import CachedRoute
from servicekit.http.middleware._headers import service_headers
from servicekit.http.middleware._hosts import AllowedHosts
from servicekit.http.middleware._proxies import TrustedProxies
from servicekit.observability import Metrics
from servicekit.ratelimit import RatePolicy, rate_limit_headers
from servicekit.state import STATE_KEY, ServiceState

__all__ = ["ServiceMiddleware"]

_SANE_REQUEST_ID: Final = re.compile(rb"[A-Za-z0-9._:@=+/-]{1,128}")
_UNMATCHED_ROUTE: Final = "<unmatched>"

_error_log = structlog.get_logger("servicekit.errors")


class ServiceMiddleware:
    """Request ids, timing, the security headers, limits, logs and metrics: one pure-ASGI layer.

    For every HTTP request, reading its headers once and wrapping ``send`` once:

    1. the request id: the client's ``X-Request-ID`` when sane (1 to 128 of
       ``[A-Za-z0-9._:@=+/-]``), else a new one; bound into every log line and
       problem, echoed in the response;
    2. ``Host`` must be one of ``allowed_hosts`` (``*.example.com`` allowed), else 400;
    3. a declared ``Content-Length`` over ``max_body_bytes`` is a 413 before anything
       is read; a chunked body is counted as it is read and refused once over;
    4. ``HEAD`` is answered as ``GET`` without the body (RFC 9110 §9.3.2);
    5. from a ``trusted_proxies`` peer, the app sees the client of ``X-Forwarded-For``
       and the scheme of ``X-Forwarded-Proto`` (`TrustedProxies`); from anyone
       else, both headers are ignored;
    6. but for ``public_paths`` (probes, metrics, docs): a bearer token is verified
       and its revocation check started (`CurrentPrincipal` finishes both), the
       request is counted against ``rate_limit`` per client (the token's user, else
       the address) with the IETF ``RateLimit`` fields, 429 past it, and a
       ``CachedRoute``'s hit is sent from the cache: one Redis script for all of it;
    7. every response gets ``X-Request-ID``, ``Server-Timing``, ``nosniff``,
       ``no-referrer``, ``DENY``, and ``Cache-Control: no-store`` if the request
       carried credentials and the endpoint set no ``Cache-Control``;
    8. an exception nothing else handled is logged with its traceback and answered
       with a 500 problem that reveals nothing of it;
    9. one access log line (``quiet_paths`` at DEBUG) and the request's metrics.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        access_log: FilteringBoundLogger,
        max_body_bytes: int,
        allowed_hosts: Sequence[str] = ("*",),
        trusted_proxies: Sequence[str] = (),
        rate_limit: RatePolicy | None = None,
        public_paths: Sequence[str] = (),
        cached_routes: Sequence[CachedRoute] = (),
        quiet_paths: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self.max_body_bytes = max_body_bytes
        self.hosts = None if "*" in allowed_hosts else AllowedHosts(allowed_hosts)
        self.proxies = TrustedProxies(trusted_proxies) if trusted_proxies else None
        self.rate_limit = rate_limit
        self.public_paths = tuple(public_paths)
        self.cached_routes = tuple(cached_routes)
        self.quiet_paths = frozenset(quiet_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        seen = _Headers(scope["headers"])
        client_id = seen.request_id
        sane = client_id is not None and _SANE_REQUEST_ID.fullmatch(client_id)
        request_id = client_id.decode("latin-1") if sane and client_id else secrets.token_hex(16)
        encoded_id = request_id.encode("latin-1")
        id_token = request_id_var.set(request_id)
        log_tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        method = scope["method"]
        head = method == "HEAD"
        inner = self._inner_scope(scope, seen, head=head)
        credentials = seen.authorization is not None
        limit_headers: list[tuple[bytes, bytes]] = []
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = service_headers(
                    message.get("headers", ()),
                    request_id=encoded_id,
                    elapsed_ms=(time.perf_counter() - started_at) * 1000,
                    credentials=credentials,
                    extra=limit_headers,
                )
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            await self._serve(scope, inner, seen, receive, send_with_headers, limit_headers)
        except WrappedAppError as exc:
            # The body limit, where no handler caught it.
            if response_started:
                raise
            await problem_response(exc.error, instance=scope["path"])(
                scope, receive, send_with_headers
            )
        except Exception:
            _error_log.exception("unhandled_exception", method=method, path=scope["path"])
            if not response_started:
                await problem_response(AppError(), instance=scope["path"])(
                    scope, receive, send_with_headers
                )
        finally:
            self._record(method, inner, status, time.perf_counter() - started_at)
            structlog.contextvars.reset_contextvars(**log_tokens)
            request_id_var.reset(id_token)

    async def _serve(
        self,
        scope: Scope,
        inner: Scope,
        seen: _Headers,
        receive: Receive,
        send: Send,
        limit_headers: list[tuple[bytes, bytes]],
    ) -> None:
        """Refuse the request, answer it from the cache, or hand it to the app."""
        refusal = self._refusal(seen.host, seen.length)
        cached = None
        if refusal is None and not inner["path"].startswith(self.public_paths):
            state = inner.get("state", {}).get(STATE_KEY)
            if isinstance(state, ServiceState):
                cached = self._cache_lookup(state, inner)
                refusal = await self._admit(state, inner, seen, cached, limit_headers)
        if refusal is not None:
            await problem_response(refusal, instance=scope["path"])(scope, receive, send)
        elif cached is None or not await self._send_cached(*cached, inner, seen, send):
            if seen.chunked and seen.length is None:
                receive = counting(receive, self.max_body_bytes)
            await self.app(inner, receive, send)

    async def _admit(
        self,
        state: ServiceState,
        scope: Scope,
        seen: _Headers,
        cached: tuple[CachedRoute, Lookup] | None,
        headers: list[tuple[bytes, bytes]],
    ) -> AppError | None:
        """Read the bearer token, count the request against the rate limit: its headers,
        and the 429 if refused.

        What the request needs of Redis besides its limit (its cache entry, whether its
        token is revoked) rides in the limit's own script when that goes to Redis.
        A cached route is public: its token names the client, and is checked no further.
        """
        token = bearer_token(seen.authorization)
        credentials = None
        if token is not None:
            credentials = await read_credentials(state, token, revocation=cached is None)
            scope[CREDENTIALS_KEY] = credentials
        calls = []
        if cached is not None and cached[1].call is not None:
            calls.append(cached[1].call)
        if credentials is not None and credentials.revocation is not None:
            calls.append(credentials.revocation)
        policy = self.rate_limit
        if policy is None:
            for call in calls:
                state.scripts.call(call)
            return None
        client = credentials.client if credentials is not None else None
        if client is None:
            address = scope.get("client")
            client = f"ip:{address[0] if address else 'unknown'}"
        decision = await state.rate_limiter.hit(policy, client, then=calls)
        headers += rate_limit_headers(policy, decision)
        if decision.allowed:
            return None
        return RateLimited(
            f"More than {policy.quota} requests in {policy.window} s; "
            f"retry in {decision.retry_after} s.",
            retry_after=decision.retry_after,
        )

    def _record(self, method: str, scope: Scope, status: int, seconds: float) -> None:
        """The request's metrics and its access line (``scope`` the one the app saw)."""
        route = getattr(scope.get("route"), "path", None) or _UNMATCHED_ROUTE
        self.metrics.observe_request(method, route, status, seconds)
        access = self.access_log
        log = access.debug if scope["path"] in self.quiet_paths else access.info
        log(
            "request",
            method=method,
            route=route,
            status=status,
            duration_ms=round(seconds * 1000, 2),
        )

    def _inner_scope(self, scope: Scope, seen: _Headers, *, head: bool) -> Scope:
        """The scope the app sees: HEAD as GET; behind a trusted proxy, its client and scheme.

        A copy whenever it differs: the server keeps reading its own scope.
        """
        client = scope.get("client")
        proxied = self.proxies is not None and client is not None and seen.forwarded
        if not head and not proxied:
            return scope
        inner = {**scope, "method": "GET"} if head else {**scope}
        if proxied and self.proxies is not None and client is not None:
            peer = client[0]
            inner["client"] = (self.proxies.client(peer, seen.forwarded_for), 0)
            inner["scheme"] = self.proxies.scheme(peer, seen.forwarded_proto, scope["scheme"])
        return inner

    def _cache_lookup(self, state: ServiceState, scope: Scope) -> tuple[CachedRoute, Lookup] | None:
        """The cache read of a cached route's request, not yet sent; None for other requests."""
        if scope["method"] != "GET":  # HEAD arrives here as GET
            return None
        for route in self.cached_routes:
            key = route.key_of(scope["path"])
            if key is not None:
                lookup = state.cache.lookup(route.kind, key)
                return None if lookup is None else (route, lookup)
        return None

    @staticmethod
    async def _send_cached(
        route: CachedRoute, lookup: Lookup, scope: Scope, seen: _Headers, send: Send
    ) -> bool:
        """Whether the cache held the response, or the route's loader found it, and it was
        sent (``scope`` marked with the route); else the endpoint answers."""
        cached = await lookup.response()
        if cached is None and route.load is not None:
            state = scope["state"][STATE_KEY]
            key = lookup.key
            load = route.load
            try:
                cached = await state.cache.get(
                    route.kind, key, lambda: load(state.database.reader, key)
                )
            except Exception:  # the endpoint meets it again, and answers it
                cached = None
        if cached is None:
            return False
        await route.send(cached, send, seen.if_none_match)
        scope["route"] = route  # the metrics' and the access line's route
        return True

    def _refusal(self, host: bytes | None, length: bytes | None) -> AppError | None:
        """Why the request is refused before the app sees it, if it is."""
        if self.hosts is not None and not self.hosts.allows(host):
            return BadRequest("The Host header names a host this service does not serve.")
        if length is not None:
            if not length.isdigit():
                return BadRequest("The Content-Length header is not a valid number.")
            if int(length) > self.max_body_bytes:
                return too_large(self.max_body_bytes)
        return None


class _Headers:
    """What the middleware needs of the request headers, read in one pass."""

    __slots__ = (
        "authorization",
        "chunked",
        "forwarded_for",
        "forwarded_proto",
        "host",
        "if_none_match",
        "length",
        "request_id",
    )

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.host: bytes | None = None
        self.length: bytes | None = None
        self.request_id: bytes | None = None
        self.forwarded_for: bytes | None = None
        self.forwarded_proto: bytes | None = None
        self.authorization: bytes | None = None
        self.if_none_match: bytes | None = None
        self.chunked = False
        for name, value in headers:
            if name == b"host":
                self.host = value
            elif name == b"content-length":
                self.length = value
            elif name == b"x-request-id":
                self.request_id = value
            elif name == b"authorization":
                self.authorization = value
            elif name == b"transfer-encoding":
                self.chunked = True
            elif name == b"x-forwarded-for":
                # Repeated, the fields are one list (RFC 9110 §5.3).
                self.forwarded_for = (
                    value if self.forwarded_for is None else self.forwarded_for + b"," + value
                )
            elif name == b"x-forwarded-proto":
                self.forwarded_proto = value
            elif name == b"if-none-match":
                self.if_none_match = value

    @property
    def forwarded(self) -> bool:
        """Whether the request carries forwarding headers."""
        return self.forwarded_for is not None or self.forwarded_proto is not None
