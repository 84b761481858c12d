"""Access tokens for tests: a signing key of their own, its JWKS served over real HTTP."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = ["JwksServer", "TokenFactory", "serve_jwks"]


class TokenFactory:
    """Mints access tokens the way the users service does, with a key of its own."""

    def __init__(self, *, issuer: str, audience: str, kid: str = "test-key") -> None:
        self.issuer = issuer
        self.audience = audience
        self.kid = kid
        self.private_key = Ed25519PrivateKey.generate()

    def jwks(self) -> dict[str, Any]:
        """The JWK Set with this factory's public key."""
        raw = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": x,
                    "kid": self.kid,
                    "use": "sig",
                    "alg": "EdDSA",
                }
            ]
        }

    def claims(
        self, *, user_id: uuid.UUID | None = None, role: str = "user", ttl: int = 900
    ) -> dict[str, Any]:
        """Valid claims for ``user_id`` (a new one if not given)."""
        now = int(time.time())
        return {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id or uuid.uuid4()),
            "sid": str(uuid.uuid4()),
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + ttl,
            "role": role,
        }

    def issue(
        self,
        *,
        user_id: uuid.UUID | None = None,
        role: str = "user",
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
        return jwt.encode(
            payload,
            key or self.private_key,
            algorithm="EdDSA",
            headers={"kid": self.kid, "typ": "at+jwt", **(headers or {})},
        )


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
