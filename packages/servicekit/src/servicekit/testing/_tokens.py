"""Access tokens for tests: a signing key of their own, its JWKS served over real HTTP."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from servicekit.auth import Role, access_token_claims, public_jwk, sign_access_token

__all__ = ["JwksServer", "TokenFactory", "serve_jwks"]


class TokenFactory:
    """Mints access tokens the way the users service does (servicekit.auth's claims
    and signing), with a key of its own."""

    def __init__(self, *, issuer: str, audience: str, kid: str = "test-key") -> None:
        self.issuer = issuer
        self.audience = audience
        self.kid = kid
        self.private_key = Ed25519PrivateKey.generate()

    def jwks(self) -> dict[str, Any]:
        """The JWK Set with this factory's public key."""
        return {"keys": [public_jwk(self.kid, self.private_key.public_key())]}

    def claims(
        self, *, user_id: uuid.UUID | None = None, role: Role = "user", ttl: int = 900
    ) -> dict[str, Any]:
        """Valid claims for ``user_id`` (a new one if not given), as users makes them."""
        return access_token_claims(
            issuer=self.issuer,
            audience=self.audience,
            subject=user_id or uuid.uuid4(),
            session_id=uuid.uuid4(),
            role=role,
            ttl=ttl,
        )

    def issue(
        self,
        *,
        user_id: uuid.UUID | None = None,
        role: Role = "user",
        ttl: int = 900,
        claims: Mapping[str, Any] | None = None,
        drop: tuple[str, ...] = (),
        headers: Mapping[str, Any] | None = None,
        key: Ed25519PrivateKey | None = None,
    ) -> str:
        """A signed token; ``claims``, ``drop`` and ``headers`` bend it for negative tests."""
        payload = self.claims(user_id=user_id, role=role, ttl=ttl) | dict(claims or {})
        for name in drop:
            payload.pop(name, None)
        return sign_access_token(payload, key or self.private_key, kid=self.kid, headers=headers)


class JwksServer:
    """A JWKS endpoint on 127.0.0.1 whose document and request count tests control."""

    def __init__(self, document: Any) -> None:
        self.document = document
        self.status = 200
        self.requests = 0
        self.url = ""


@contextmanager
def serve_jwks(document: Any) -> Iterator[JwksServer]:
    """Serve ``document`` as JSON over real HTTP, from a background thread."""
    state = JwksServer(document)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests += 1
            body = orjson.dumps(state.document)
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests need no access log from the JWKS stub."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
