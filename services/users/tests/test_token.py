"""``/auth/token`` and ``/.well-known/jwks.json``: issuing tokens and publishing keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from user_factories import PASSWORD, auth, create_user, log_in, register

from users.account.password import argon2id
from users.session.models import RefreshToken, Session
from users.settings import PasswordHashSettings
from users.signing_key.keyring import Keyring


class TestIssueToken:
    async def test_issues_an_access_and_a_refresh_token(self, client: httpx.AsyncClient) -> None:
        user = await register(client)

        response = await client.post(
            "/auth/token", data={"username": user["email"], "password": PASSWORD}
        )

        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 900
        assert response.headers["cache-control"] == "no-store"

    async def test_the_access_token_follows_rfc_9068(self, client: httpx.AsyncClient) -> None:
        user = await register(client, full_name="Alan Turing")
        before = int(time.time())

        token = (await log_in(client, user["email"]))["access_token"]

        header = jwt.get_unverified_header(token)
        assert header["alg"] == "EdDSA"
        assert header["typ"] == "at+jwt"
        claims = jwt.decode(token, options={"verify_signature": False})
        assert {"iss", "aud", "sub", "sid", "jti", "iat", "exp", "role"} <= set(claims)
        assert claims["sub"] == user["id"]
        assert claims["role"] == "user"
        assert claims["iss"] == "http://127.0.0.1:8001"
        assert claims["aud"] == "api"
        assert before <= claims["iat"] <= int(time.time())
        assert claims["exp"] - claims["iat"] == 900
        uuid.UUID(claims["sid"])

    async def test_the_access_token_verifies_with_the_published_key(
        self, client: httpx.AsyncClient
    ) -> None:
        user = await register(client)
        token = (await log_in(client, user["email"]))["access_token"]

        jwks = (await client.get("/.well-known/jwks.json")).json()

        kid = jwt.get_unverified_header(token)["kid"]
        (jwk,) = [key for key in jwks["keys"] if key["kid"] == kid]
        key = jwt.PyJWK(jwk).key
        claims = jwt.decode(token, key, algorithms=["EdDSA"], audience="api")
        assert claims["sub"] == user["id"]

    async def test_each_login_is_a_new_session(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        user = await register(client)

        first = await log_in(client, user["email"])
        second = await log_in(client, user["email"])

        sid = {
            jwt.decode(t["access_token"], options={"verify_signature": False})["sid"]
            for t in (first, second)
        }
        assert len(sid) == 2
        sessions = (
            await db.scalars(select(Session).where(Session.user_id == uuid.UUID(user["id"])))
        ).all()
        assert {str(s.id) for s in sessions} == sid

    async def test_the_refresh_token_is_random_and_stored_only_as_a_hash(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        user = await register(client)

        refresh_token = (await log_in(client, user["email"]))["refresh_token"]

        assert len(base64.urlsafe_b64decode(refresh_token + "==")) >= 16  # at least 128 bits
        with pytest.raises(jwt.DecodeError):
            jwt.get_unverified_header(refresh_token)
        stored = await db.scalar(
            select(RefreshToken).where(
                RefreshToken.token_hash == hashlib.sha256(refresh_token.encode()).digest()
            )
        )
        assert stored is not None
        assert refresh_token.encode() not in stored.token_hash

    async def test_records_the_client_of_the_session(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        user = await register(client)
        response = await client.post(
            "/auth/token",
            data={"username": user["email"], "password": PASSWORD},
            headers={"User-Agent": "tests/1.0"},
        )
        sid = jwt.decode(response.json()["access_token"], options={"verify_signature": False})[
            "sid"
        ]

        session = await db.get(Session, uuid.UUID(sid))

        assert session is not None
        assert session.user_agent == "tests/1.0"
        assert str(session.ip) == "127.0.0.1"

    async def test_the_e_mail_is_case_insensitive(self, client: httpx.AsyncClient) -> None:
        user = await register(client)

        await log_in(client, user["email"].upper())

    async def test_unknown_email_and_wrong_password_get_the_same_401(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        user = await create_user(db)

        wrong_password = await client.post(
            "/auth/token", data={"username": user.email, "password": "not the password"}
        )
        unknown_email = await client.post(
            "/auth/token", data={"username": "nobody@example.com", "password": PASSWORD}
        )

        assert wrong_password.status_code == unknown_email.status_code == 401
        assert (
            wrong_password.headers["www-authenticate"] == unknown_email.headers["www-authenticate"]
        )
        assert _without_request_id(wrong_password.json()) == _without_request_id(
            unknown_email.json()
        )

    async def test_an_unknown_email_costs_what_a_wrong_password_costs(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        user = await create_user(db)

        async def median_seconds(email: str) -> float:
            times = []
            for _ in range(3):
                started = time.perf_counter()
                response = await client.post(
                    "/auth/token", data={"username": email, "password": "not the password"}
                )
                times.append(time.perf_counter() - started)
                assert response.status_code == 401
            return sorted(times)[1]

        wrong_password = await median_seconds(user.email)
        unknown_email = await median_seconds("nobody-at-all@example.com")

        # Both verify one Argon2id hash; skipping it would be ten times faster.
        assert unknown_email > wrong_password / 3

    async def test_a_hash_of_older_parameters_is_upgraded_at_login(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        older = argon2id(PasswordHashSettings(time_cost=3, memory_kib=12_288)).hash(PASSWORD)
        user = await create_user(db, password_hash=older)

        await log_in(client, user.email)

        await db.refresh(user)
        assert user.password_hash != older
        assert "$m=19456,t=2,p=1$" in user.password_hash
        await log_in(client, user.email)

    async def test_a_deactivated_account_cannot_log_in(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        user = await create_user(db, is_active=False)

        response = await client.post(
            "/auth/token", data={"username": user.email, "password": PASSWORD}
        )

        assert response.status_code == 401

    async def test_an_email_postgresql_cannot_compare_is_a_plain_401(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            "/auth/token", data={"username": "a\x00@example.com", "password": PASSWORD}
        )

        assert response.status_code == 401

    async def test_missing_fields_are_422(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/auth/token", data={"username": "a@example.com"})

        assert response.status_code == 422
        assert ["body", "password"] in [error["loc"] for error in response.json()["errors"]]

    async def test_a_grant_type_other_than_password_is_422(self, client: httpx.AsyncClient) -> None:
        user = await register(client)

        response = await client.post(
            "/auth/token",
            data={
                "username": user["email"],
                "password": PASSWORD,
                "grant_type": "client_credentials",
            },
        )

        assert response.status_code == 422

    async def test_a_json_body_is_415(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/auth/token", json={"username": "a@example.com", "password": "x"}
        )

        assert response.status_code == 415


class TestJwks:
    async def test_publishes_public_keys_only(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/.well-known/jwks.json")

        assert response.status_code == 200
        keys = response.json()["keys"]
        assert keys
        for key in keys:
            assert set(key) == {"kty", "crv", "x", "kid", "use", "alg"}
            assert (key["kty"], key["crv"], key["use"], key["alg"]) == (
                "OKP",
                "Ed25519",
                "sig",
                "EdDSA",
            )

    async def test_is_cacheable(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/.well-known/jwks.json")

        assert response.headers["cache-control"] == "public, max-age=300"

    async def test_the_kid_is_the_keys_rfc_7638_thumbprint(self, client: httpx.AsyncClient) -> None:
        (key, *_) = (await client.get("/.well-known/jwks.json")).json()["keys"]

        canonical = json.dumps(
            {"crv": key["crv"], "kty": key["kty"], "x": key["x"]}, separators=(",", ":")
        )
        digest = hashlib.sha256(canonical.encode()).digest()
        assert key["kid"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class TestTokenVerification:
    """The users service refuses every kind of bad token the contract names."""

    @pytest.fixture
    async def claims(self, client: httpx.AsyncClient, db: AsyncSession) -> dict[str, Any]:
        user = await create_user(db)
        token = (await log_in(client, user.email))["access_token"]
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        return claims

    async def test_the_genuine_token_is_accepted(
        self, client: httpx.AsyncClient, keyring: Keyring, claims: dict[str, Any]
    ) -> None:
        response = await client.get("/users/me", headers=auth(keyring.sign(claims)))

        assert response.status_code == 200

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            ({"aud": "another-api"}, "audience"),
            ({"iss": "https://evil.example.com"}, "issuer"),
            ({"exp": int(time.time()) - 61}, "expired"),
            ({"iat": int(time.time()) + 3600}, "valid yet"),
            ({"role": "superuser"}, "role"),
            ({"sub": "not-a-uuid"}, "subject"),
        ],
        ids=[
            "wrong-audience",
            "wrong-issuer",
            "expired-beyond-leeway",
            "issued-in-future",
            "unknown-role",
            "bad-sub",
        ],
    )
    async def test_bad_claims_are_401(
        self,
        client: httpx.AsyncClient,
        keyring: Keyring,
        claims: dict[str, Any],
        change: dict[str, Any],
        reason: str,
    ) -> None:
        response = await client.get("/users/me", headers=auth(keyring.sign(claims | change)))

        assert response.status_code == 401
        assert reason in response.json()["detail"]

    @pytest.mark.parametrize("claim", ["iss", "aud", "sub", "sid", "jti", "iat", "exp", "role"])
    async def test_every_claim_is_required(
        self, client: httpx.AsyncClient, keyring: Keyring, claims: dict[str, Any], claim: str
    ) -> None:
        token = keyring.sign({k: v for k, v in claims.items() if k != claim})

        response = await client.get("/users/me", headers=auth(token))

        assert response.status_code == 401

    @pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
    async def test_alg_none_in_any_spelling_is_401(
        self, client: httpx.AsyncClient, keyring: Keyring, claims: dict[str, Any], alg: str
    ) -> None:
        kid = jwt.get_unverified_header(keyring.sign(claims))["kid"]
        token = _unsigned(claims, {"alg": alg, "typ": "at+jwt", "kid": kid})

        response = await client.get("/users/me", headers=auth(token))

        assert response.status_code == 401

    async def test_hs256_signed_with_the_public_key_is_401(
        self, client: httpx.AsyncClient, keyring: Keyring, claims: dict[str, Any]
    ) -> None:
        jwk = (await client.get("/.well-known/jwks.json")).json()["keys"][0]
        header = {"alg": "HS256", "typ": "at+jwt", "kid": jwk["kid"]}
        signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
        signature = hmac.new(
            json.dumps(jwk).encode(), signing_input.encode(), hashlib.sha256
        ).digest()

        response = await client.get(
            "/users/me", headers=auth(signing_input + "." + _b64(signature))
        )

        assert response.status_code == 401

    async def test_a_token_signed_by_another_key_is_401(
        self, client: httpx.AsyncClient, keyring: Keyring, claims: dict[str, Any]
    ) -> None:
        kid = jwt.get_unverified_header(keyring.sign(claims))["kid"]
        forged = jwt.encode(
            claims,
            Ed25519PrivateKey.generate(),
            algorithm="EdDSA",
            headers={"kid": kid, "typ": "at+jwt"},
        )

        response = await client.get("/users/me", headers=auth(forged))

        assert response.status_code == 401
        assert "signature" in response.json()["detail"]

    async def test_an_unknown_kid_is_401(
        self, client: httpx.AsyncClient, claims: dict[str, Any]
    ) -> None:
        token = jwt.encode(
            claims,
            Ed25519PrivateKey.generate(),
            algorithm="EdDSA",
            headers={"kid": "nope", "typ": "at+jwt"},
        )

        response = await client.get("/users/me", headers=auth(token))

        assert response.status_code == 401
        assert "unknown signing key" in response.json()["detail"]

    async def test_an_embedded_jwk_header_is_ignored(
        self, client: httpx.AsyncClient, claims: dict[str, Any]
    ) -> None:
        attacker = Ed25519PrivateKey.generate()
        public = jwt.algorithms.OKPAlgorithm.to_jwk(attacker.public_key(), as_dict=True)
        token = jwt.encode(
            claims,
            attacker,
            algorithm="EdDSA",
            headers={
                "kid": "attacker",
                "typ": "at+jwt",
                "jwk": public,
                "jku": "https://evil.example.com/jwks",
            },
        )

        response = await client.get("/users/me", headers=auth(token))

        assert response.status_code == 401

    async def test_a_token_without_the_access_token_type_is_401(
        self, client: httpx.AsyncClient, keyring: Keyring, claims: dict[str, Any]
    ) -> None:
        token = keyring.sign(claims, headers={"typ": "JWT"})

        response = await client.get("/users/me", headers=auth(token))

        assert response.status_code == 401
        assert "not an access token" in response.json()["detail"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict[str, Any], header: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode()) + "."


def _without_request_id(problem: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in problem.items() if key != "request_id"}
