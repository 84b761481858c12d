"""Token verification rules (unit level) and the JWKS cache (over real HTTP)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from servicekit.auth import InvalidToken, JwksKeySource, TokenVerifier, public_key_from_jwk
from servicekit.devstack import free_port
from servicekit.testing import TokenFactory, serve_jwks

ISSUER = "https://users.example.com"
AUDIENCE = "api"


class StaticKeys:
    """A key source holding fixed keys; it counts how often it is asked."""

    def __init__(self, keys: dict[str, Ed25519PublicKey]) -> None:
        self.keys = keys
        self.asked = 0

    async def get_key(self, kid: str) -> Ed25519PublicKey | None:
        self.asked += 1
        return self.keys.get(kid)


@pytest.fixture
def tokens() -> TokenFactory:
    return TokenFactory(issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture
def verifier(tokens: TokenFactory) -> TokenVerifier:
    keys = StaticKeys({tokens.kid: tokens.private_key.public_key()})
    return TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, leeway=30)


_ATTACKER = Ed25519PrivateKey.generate()
_ATTACKER_JWK = jwt.algorithms.OKPAlgorithm.to_jwk(_ATTACKER.public_key(), as_dict=True)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class TestAcceptedTokenCache:
    """A token once accepted is not checked again until it expires."""

    @pytest.fixture
    def keys(self, tokens: TokenFactory) -> StaticKeys:
        return StaticKeys({tokens.kid: tokens.private_key.public_key()})

    async def test_the_same_token_again_skips_the_signature_check(
        self, tokens: TokenFactory, keys: StaticKeys
    ) -> None:
        verifier = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, leeway=30)
        token = tokens.issue()

        first = await verifier.verify(token)
        second = await verifier.verify(token)

        assert second == first
        assert keys.asked == 1

    async def test_a_remembered_token_is_refused_once_it_expires(
        self, tokens: TokenFactory, keys: StaticKeys
    ) -> None:
        now = [time.time()]
        verifier = TokenVerifier(
            keys, issuer=ISSUER, audience=AUDIENCE, leeway=30, clock=lambda: now[0]
        )
        token = tokens.issue(ttl=60)
        await verifier.verify(token)
        now[0] += 60 + 31  # past its expiry and the leeway

        with pytest.raises(InvalidToken, match="expired"):
            await verifier.verify(token)

    async def test_size_zero_remembers_nothing(
        self, tokens: TokenFactory, keys: StaticKeys
    ) -> None:
        verifier = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, leeway=30, cache_size=0)
        token = tokens.issue()

        await verifier.verify(token)
        await verifier.verify(token)

        assert keys.asked == 2

    async def test_it_holds_at_most_its_size_forgetting_the_oldest(
        self, tokens: TokenFactory, keys: StaticKeys
    ) -> None:
        verifier = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, leeway=30, cache_size=2)
        first, second, third = tokens.issue(), tokens.issue(), tokens.issue()
        for token in (first, second, third):
            await verifier.verify(token)

        await verifier.verify(third)
        assert keys.asked == 3
        await verifier.verify(first)
        assert keys.asked == 4

    async def test_a_refused_token_stays_refused(
        self, tokens: TokenFactory, keys: StaticKeys
    ) -> None:
        verifier = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, leeway=30)
        forged = tokens.issue(key=_ATTACKER)

        for _ in range(2):
            with pytest.raises(InvalidToken, match="signature"):
                await verifier.verify(forged)


class TestTokenVerifier:
    async def test_a_valid_token_gives_its_principal(
        self, tokens: TokenFactory, verifier: TokenVerifier
    ) -> None:
        user_id = uuid.uuid4()

        principal = await verifier.verify(tokens.issue(user_id=user_id, role="admin"))

        assert principal.user_id == user_id
        assert principal.role == "admin"
        assert principal.is_admin
        assert principal.issuer == ISSUER

    async def test_a_list_audience_containing_ours_is_accepted(
        self, tokens: TokenFactory, verifier: TokenVerifier
    ) -> None:
        await verifier.verify(tokens.issue(claims={"aud": ["billing", AUDIENCE]}))

    async def test_expiry_within_the_leeway_is_accepted(
        self, tokens: TokenFactory, verifier: TokenVerifier
    ) -> None:
        await verifier.verify(tokens.issue(claims={"exp": int(time.time()) - 20}))

    @pytest.mark.parametrize(
        ("kwargs", "reason"),
        [
            ({"claims": {"exp": int(time.time()) - 31}}, "expired"),
            ({"claims": {"aud": "other"}}, "audience"),
            ({"claims": {"iss": "https://evil.example.com"}}, "issuer"),
            ({"claims": {"nbf": int(time.time()) + 120}}, "not valid yet"),
            ({"claims": {"iat": int(time.time()) + 120}}, "valid yet"),
            ({"claims": {"role": "root"}}, "role"),
            ({"claims": {"sub": "42"}}, "subject"),
            ({"claims": {"sid": 7}}, "malformed"),
            ({"headers": {"typ": "JWT"}}, "not an access token"),
            ({"headers": {"kid": "rotated-away"}}, "unknown signing key"),
            ({"headers": {"crit": ["exp"]}}, "malformed"),
            ({"key": Ed25519PrivateKey.generate()}, "signature"),
            (
                {
                    "key": _ATTACKER,
                    "headers": {"jwk": _ATTACKER_JWK, "jku": "https://evil.example.com"},
                },
                "signature",
            ),
        ],
    )
    async def test_refused(
        self, tokens: TokenFactory, verifier: TokenVerifier, kwargs: dict[str, Any], reason: str
    ) -> None:
        with pytest.raises(InvalidToken, match=reason):
            await verifier.verify(tokens.issue(**kwargs))

    @pytest.mark.parametrize("claim", ["iss", "aud", "sub", "sid", "jti", "iat", "exp", "role"])
    async def test_every_claim_is_required(
        self, tokens: TokenFactory, verifier: TokenVerifier, claim: str
    ) -> None:
        with pytest.raises(InvalidToken, match="missing claim"):
            await verifier.verify(tokens.issue(drop=(claim,)))

    @pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS256", "HS512", "RS256", "ES256"])
    async def test_other_algorithms_are_refused(
        self, tokens: TokenFactory, verifier: TokenVerifier, alg: str
    ) -> None:
        header = {"alg": alg, "typ": "at+jwt", "kid": tokens.kid}
        token = f"{_b64(header)}.{_b64(tokens.claims())}.{'' if alg.lower() == 'none' else 'c2ln'}"

        with pytest.raises(InvalidToken, match="algorithm"):
            await verifier.verify(token)

    @pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c", "....", "Bearer x"])
    async def test_garbage_is_refused(self, verifier: TokenVerifier, token: str) -> None:
        with pytest.raises(InvalidToken):
            await verifier.verify(token)

    async def test_typ_is_case_insensitive_and_may_carry_the_media_type(
        self, tokens: TokenFactory, verifier: TokenVerifier
    ) -> None:
        await verifier.verify(tokens.issue(headers={"typ": "AT+JWT"}))
        await verifier.verify(tokens.issue(headers={"typ": "application/at+jwt"}))

    def test_the_leeway_cannot_exceed_sixty_seconds(self) -> None:
        with pytest.raises(ValueError, match="leeway"):
            TokenVerifier(StaticKeys({}), issuer=ISSUER, audience=AUDIENCE, leeway=61)


class TestPublicKeyFromJwk:
    def test_an_ed25519_public_key(self, tokens: TokenFactory) -> None:
        assert public_key_from_jwk(tokens.jwks()["keys"][0]) is not None

    @pytest.mark.parametrize(
        "change",
        [
            {"kty": "RSA"},
            {"crv": "X25519"},
            {"use": "enc"},
            {"alg": "HS256"},
            {"d": "private"},
            {"x": "!!"},
        ],
    )
    def test_anything_else_is_skipped(self, tokens: TokenFactory, change: dict[str, str]) -> None:
        assert public_key_from_jwk(tokens.jwks()["keys"][0] | change) is None


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestJwksKeySource:
    async def test_fetches_and_caches_the_keys(self, tokens: TokenFactory) -> None:
        with serve_jwks(tokens.jwks()) as server:
            async with httpx.AsyncClient() as http:
                source = JwksKeySource(server.url, http=http)
                key = await source.get_key(tokens.kid)
                again = await source.get_key(tokens.kid)

        assert key is not None
        assert again is key
        assert server.requests == 1

    async def test_keeps_cached_keys_when_the_issuer_is_down(self, tokens: TokenFactory) -> None:
        clock = Clock()
        async with httpx.AsyncClient(timeout=1) as http:
            with serve_jwks(tokens.jwks()) as server:
                source = JwksKeySource(server.url, http=http, cache_ttl=60, clock=clock)
                await source.refresh()
            clock.now += 3600  # long stale, and the server is gone

            key = await source.get_key(tokens.kid)
            await source.aclose()

        assert key is not None

    async def test_stale_keys_are_refreshed_in_the_background(self, tokens: TokenFactory) -> None:
        clock = Clock()
        with serve_jwks(tokens.jwks()) as server:
            async with httpx.AsyncClient() as http:
                source = JwksKeySource(server.url, http=http, cache_ttl=60, clock=clock)
                await source.refresh()
                clock.now += 61

                assert await source.get_key(tokens.kid) is not None  # answered from the cache
                await source.aclose()

        assert server.requests in (1, 2)  # the refresh may or may not have run before aclose

    async def test_a_down_issuer_is_asked_again_at_most_once_per_interval(
        self, tokens: TokenFactory
    ) -> None:
        clock = Clock()
        with serve_jwks(tokens.jwks()) as server:
            async with httpx.AsyncClient() as http:
                source = JwksKeySource(
                    server.url, http=http, cache_ttl=60, min_refetch_interval=10, clock=clock
                )
                await source.refresh()
                server.status = 503
                clock.now += 61  # stale

                for _ in range(20):
                    assert await source.get_key(tokens.kid) is not None
                    await asyncio.sleep(0.01)  # let a background refresh run
                clock.now += 10
                await source.get_key(tokens.kid)
                await asyncio.sleep(0.05)
                await source.aclose()

        assert server.requests == 3  # the first fetch, one retry, one more after the interval

    async def test_an_unknown_kid_refetches_at_most_once_per_interval(
        self, tokens: TokenFactory
    ) -> None:
        clock = Clock()
        rotated = TokenFactory(issuer=ISSUER, audience=AUDIENCE, kid="new-key")
        with serve_jwks(tokens.jwks()) as server:
            async with httpx.AsyncClient() as http:
                source = JwksKeySource(server.url, http=http, clock=clock, min_refetch_interval=10)
                await source.get_key(tokens.kid)
                server.document = rotated.jwks()
                clock.now += 1

                too_soon = await source.get_key("new-key")
                made_up = await source.get_key("made-up")
                clock.now += 10
                rotated_in = await source.get_key("new-key")

        assert too_soon is None
        assert made_up is None
        assert rotated_in is not None
        assert server.requests == 2

    async def test_until_a_first_fetch_succeeds_it_retries_within_a_second(
        self, tokens: TokenFactory
    ) -> None:
        clock = Clock()
        port = free_port()
        async with httpx.AsyncClient(timeout=1) as http:
            source = JwksKeySource(f"http://127.0.0.1:{port}/jwks.json", http=http, clock=clock)
            assert await source.get_key(tokens.kid) is None  # the issuer is not up yet
            with serve_jwks(tokens.jwks()) as server:
                source.url = server.url  # …now it is
                clock.now += 1

                assert await source.get_key(tokens.kid) is not None

    async def test_an_unreachable_jwks_is_no_key_not_an_error(self) -> None:
        async with httpx.AsyncClient(timeout=1) as http:
            source = JwksKeySource(f"http://127.0.0.1:{free_port()}/jwks.json", http=http)

            assert await source.get_key("any") is None

    @pytest.mark.parametrize("document", [[], {"keys": "nope"}, {"nokeys": []}])
    async def test_a_malformed_document_keeps_the_cache(
        self, tokens: TokenFactory, document: object
    ) -> None:
        clock = Clock()
        with serve_jwks(tokens.jwks()) as server:
            async with httpx.AsyncClient() as http:
                source = JwksKeySource(server.url, http=http, clock=clock)
                await source.refresh()
                server.document = document
                clock.now += 60
                await source.refresh()

                assert await source.get_key(tokens.kid) is not None
                assert server.requests == 2
